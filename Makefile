# The README's two commands: `make demo` (the main job on the embedded default) and `make test`.
# Both do all set-up on a fresh Debian/Ubuntu machine: headless GL system packages and a virtualenv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2
PYTEST_ARGS ?=

.PHONY: demo test test-fast lint setup system-packages clean

# MODEL=gm_cml | zigzagnet picks configs/MODEL.yaml (default: gmcml_tf/demo.py DEFAULT_MODEL).
demo: setup
	$(BIN)/gmcml-tf demo $(if $(MODEL),--model $(MODEL))

# Every test, the two multi-process `slow` ones included (they fit CI's budget); `make test-fast` skips those.
test: setup lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# pyflakes, pycodestyle and bugbear over the whole tree (pyproject.toml [tool.ruff]); a second.
lint: setup
	$(BIN)/ruff check .

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

setup: system-packages $(BIN)/.installed

# Installs the EGL/Mesa libraries only when one is missing (dpkg knows), so a set-up machine needs no sudo.
system-packages:
	@missing=$$(for p in $(GL_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:" $$missing; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"' || \
	  { echo "gmcml-tf needs Python >= 3.11 ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv; }

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

clean:
	rm -rf $(VENV) data_out
