"""The import graph follows DESIGN.md's parts table: no forbidden edge, no cycle of packages.

Every ``import`` in every module is read from its syntax tree, those inside functions too
(the lazy imports that keep torch out of light packages are still dependencies), so a rule
cannot be dodged by moving an import into a function. Imports under ``if TYPE_CHECKING:`` are
read as well: they name a dependency even when they do not run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("robopref", "sim", "hardware")

# The "must not" column of DESIGN.md's parts table, as (package, forbidden import prefixes,
# the table's words). A package is a dotted prefix; "torch" includes "torch.nn" and the like.
FORBIDDEN: list[tuple[str, tuple[str, ...], str]] = [
    ("sim", ("torch", "robopref", "hardware"), "import torch, anything from robopref or hardware"),
    ("robopref.data", ("sim", "robopref.rl"), "know which simulator or learner"),
    ("robopref.rewards", ("robopref.rl",), "import robopref.rl"),
    ("robopref.preferences", ("robopref.ui",), "render HTML (import robopref.ui)"),
    # rewards trains on preferences' batches, so the edge back would be a cycle.
    ("robopref.preferences", ("robopref.rewards",), "form a cycle with robopref.rewards"),
    ("robopref.ui", ("robopref.rl",), "train models in the request path"),
    # Issue 15: the task's description comes from the run (task.json) or its episodes.
    ("robopref.ui", ("sim",), "know which simulator defines the task"),
    ("robopref.evaluator", ("robopref.rl",), "import robopref.rl"),
    ("hardware", ("robopref.rl",), "import robopref.rl (deployment needs no learner)"),
]
# Edges a rule forbids that stay, each with its reason. The list cannot rot: a test fails
# when an edge here no longer exists.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("hardware.policies.run", "robopref.rl.policy"): (
        "`robopref bridge --run RUN` loads a learner's checkpoint, which needs the learner "
        "(an rlpd model.zip unpickles robopref.rl.rlpd's classes); deployment without the "
        "learner is `--policy-blob` (robopref export --policy), which imports none of it"
    ),
}
# "No package of the library (robopref/* other than the CLI and benchmarks) imports hardware/".
MAY_IMPORT_HARDWARE = ("robopref.cli", "robopref.commands", "robopref.benchmarks")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _top_level_lines(tree: ast.Module) -> set[int]:
    """Line numbers of imports that run when the module is imported (not in a def)."""
    lines: set[int] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                lines.add(child.lineno)
            visit(child)

    visit(tree)
    return lines


def _imports() -> list[tuple[str, str, int, bool]]:
    """(importing module, imported module, line, at import time) for every import."""
    edges = []
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = _module_name(path)
            tree = ast.parse(path.read_text(), filename=str(path))
            eager = _top_level_lines(tree)
            is_package = path.name == "__init__.py"
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = _resolve(module, is_package, node)
                    # "from pkg import sub" may import a submodule: count pkg.sub too.
                    names = [base] + [f"{base}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    edges.append((module, name, node.lineno, node.lineno in eager))
    return edges


EDGES = _imports()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _package(module: str) -> str:
    """The part of the layout a module belongs to: robopref.<sub> or a top-level folder."""
    parts = module.split(".")
    if parts[0] == "robopref" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def test_the_walk_sees_lazy_and_relative_imports():
    # The rules below are only as good as the walk: it must see imports in functions.
    lazy = [e for e in EDGES if not e[3]]
    assert any(m == "robopref.rewards" and n.startswith("importlib") for m, n, _, _ in EDGES)
    assert lazy, "no import inside a function found: the walk is broken"
    assert len({m for m, *_ in EDGES}) > 50


@pytest.mark.parametrize("package, forbidden, words", FORBIDDEN, ids=lambda v: str(v)[:40])
def test_no_package_imports_what_design_md_forbids(package, forbidden, words):
    bad = sorted(
        f"{m}:{line} imports {n}"
        for m, n, line, _ in EDGES
        if _within(m, package)
        and any(_within(n, f) for f in forbidden)
        and not any(m == em and _within(n, en) for em, en in EXCEPTIONS)
    )
    assert not bad, f"{package} must not {words}:\n" + "\n".join(bad)


def test_every_listed_exception_is_still_an_edge():
    gone = [e for e in EXCEPTIONS if not any(m == e[0] and n == e[1] for m, n, *_ in EDGES)]
    assert not gone, f"drop these from EXCEPTIONS, the imports are gone: {gone}"


def test_no_library_package_imports_hardware():
    bad = sorted(
        f"{m}:{line} imports {n}"
        for m, n, line, _ in EDGES
        if _within(m, "robopref")
        and not any(_within(m, ok) for ok in MAY_IMPORT_HARDWARE)
        and _within(n, "hardware")
    )
    assert not bad, "the library must not depend on deployment:\n" + "\n".join(bad)


def test_the_evaluator_does_not_import_torch_at_import_time():
    bad = sorted(
        f"{m}:{line} imports {n}"
        for m, n, line, eager in EDGES
        if _within(m, "robopref.evaluator") and eager and _within(n, "torch")
    )
    assert not bad, "robopref.evaluator must not depend on torch at import time:\n" + "\n".join(bad)


def test_no_two_packages_import_each_other():
    graph: dict[str, set[str]] = {}
    known = {_package(m) for m, *_ in EDGES}
    for m, n, _, _ in EDGES:
        a, b = _package(m), _package(n)
        if a != b and b in known:
            graph.setdefault(a, set()).add(b)
    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a in graph.get(b, ()))
    assert not cycles, "packages that import each other:\n" + "\n".join(cycles)
