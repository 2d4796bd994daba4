"""Builds the C evaluator; everything else about the project is declared in pyproject.toml.

``robopref.evaluator._evaluator`` is one C file with no dependency beyond CPython's headers
(no NumPy, no torch at build or import time). It is compiled with -O3 but without
-ffast-math (which would reorder sums and break parity with torch) and without
-march=native (the build must run on any x86-64: the AVX2+FMA kernels are compiled
alongside generic ones and picked at load, after a CPU check).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "robopref.evaluator._evaluator",
            sources=["robopref/evaluator/_evaluator.c"],
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
