# Two commands on a fresh machine: `make demo` and `make test`. Both set themselves up:
# system packages with apt-get (when root and missing), a virtual environment in .venv,
# torch==2.13.0 first (the CPU build on disk; an unpinned torch pulls GBs of CUDA), then us.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
# EGL/Mesa for headless rendering; a C compiler for the reward evaluator's extension;
# Chromium for the query UI's browser tests (Playwright drives it; it never downloads one).
APT_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 gcc libc6-dev chromium chromium-driver
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

# The C evaluator's sources and headers: a change to any of them rebuilds the extension.
EVALUATOR_C := $(wildcard robopref/evaluator/*.c robopref/evaluator/*.h)

$(STAMP): pyproject.toml Makefile setup.py $(EVALUATOR_C)
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing system packages (run as root or install): $$missing" >&2; exit 1; fi; \
	fi
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,torch,vlm]'
	touch $(STAMP)

demo: setup
	$(BIN)/robopref demo

# mypy checks the modules listed under [tool.mypy] files in pyproject.toml.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# ROBOPREF_REQUIRE_C=1: a missing C evaluator build fails the tests instead of training
# warning and falling back to torch (robopref.rl.env).
test: setup lint
	ROBOPREF_REQUIRE_C=1 $(BIN)/python -m pytest -q

bench: setup
	bench/sim.sh
	bench/experts.sh
	bench/reward.sh
	bench/evaluator.sh
	bench/bridge.sh
	bench/prm.sh
	bench/train.sh
	bench/ui.sh
	bench/feedback.sh
	bench/reach_ablation.sh
	bench/learning.sh reach lift push

clean:
	rm -rf $(VENV) build *.egg-info robopref/evaluator/*.so
