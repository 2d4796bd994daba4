"""The C evaluator's build: every C file is compiled or declared, and the kernels stay pure C.

The extension is three translation units (kernels, blob parser, CPython binding) and two
headers; a file setup.py does not list would be left out of the build or the sdist, and one
the Makefile's setup stamp does not depend on would not rebuild the extension when it changes.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
C_DIR = ROOT / "robopref" / "evaluator"


def _setup_lists() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            values[node.targets[0].id] = node.value
    c_dir = ast.literal_eval(values["C_DIR"])
    out = {}
    for name in ("C_SOURCES", "C_HEADERS"):
        comp = values[name]
        assert isinstance(comp, ast.ListComp)
        files = ast.literal_eval(comp.generators[0].iter)
        out[name] = [c_dir + f for f in files]
    return out


def test_setup_compiles_every_c_file_and_depends_on_every_header():
    lists = _setup_lists()
    on_disk = {p.relative_to(ROOT).as_posix() for p in C_DIR.glob("*.[ch]")}
    assert set(lists["C_SOURCES"]) == {f for f in on_disk if f.endswith(".c")}
    assert set(lists["C_HEADERS"]) == {f for f in on_disk if f.endswith(".h")}


def test_the_setup_stamp_depends_on_every_c_file():
    makefile = (ROOT / "Makefile").read_text()
    assert "EVALUATOR_C := $(wildcard robopref/evaluator/*.c robopref/evaluator/*.h)" in makefile
    assert re.search(r"^\$\(STAMP\):.*\$\(EVALUATOR_C\)", makefile, re.M)


def test_the_kernels_include_no_python():
    # The kernels are pure C (STYLE.md, after markupsafe's _speedups.c): Python only in the
    # parser's errors and in the binding.
    for name in ("_kernels.c", "_rpe.h"):
        text = (C_DIR / name).read_text()
        assert "Python.h" not in text and "_blob.h" not in text, name
        assert not re.search(r"\bPy[A-Z_]\w*", text), f"{name} uses the Python C API"
