"""Benchmarks behind ``robopref bench ...`` (and the scripts in ``bench/``)."""
