"""Builds the C evaluator; everything else about the project is declared in pyproject.toml.

``robopref.evaluator._evaluator`` is built from three C files with no dependency beyond
CPython's headers (no NumPy, no torch at build or import time): ``_kernels.c`` (the pure C
kernels), ``_blob.c`` (the blob parser and overflow rule) and ``_evaluator.c`` (the CPython
binding), with the headers ``_rpe.h`` and ``_blob.h``. It is compiled with -O3 but without
-ffast-math (which would reorder sums and break parity with torch) and without
-march=native (the build must run on any x86-64: the AVX2+FMA kernels are compiled
alongside generic ones and picked at load, after a CPU check).
"""

from setuptools import Extension, setup

C_DIR = "robopref/evaluator/"
C_SOURCES = [C_DIR + f for f in ("_evaluator.c", "_blob.c", "_kernels.c")]
C_HEADERS = [C_DIR + f for f in ("_rpe.h", "_blob.h")]

setup(
    ext_modules=[
        Extension(
            "robopref.evaluator._evaluator",
            sources=C_SOURCES,
            depends=C_HEADERS,  # a changed header rebuilds the extension too
            extra_compile_args=[
                "-O3",
                "-std=gnu11",
                "-fvisibility=hidden",
                "-Wall",
                "-Wextra",
                "-Wno-psabi",
            ],
        )
    ]
)
