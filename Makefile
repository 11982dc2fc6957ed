# wearsync: `make demo` runs the main job end to end on embedded defaults; `make test` runs every check.
# Each target installs what it needs (a Python 3.13 virtual environment, Azurite from npm) by itself.

SHELL := /bin/bash
VENV  := .venv
INFRA_VENV := .venv-infra
PY    := $(VENV)/bin/python
# The machine's Python 3.13: python3.13 on PATH, else a pyenv install of it.
PYTHON313 := $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	$$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo $$p; break; }; done)

.PHONY: demo test lint typecheck unit index-check infra-check bench bench-chaos bench-pull bench-notify clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (python3.13 not found)"; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# checkov (offline Bicep checks) has ~100 dependencies: it gets a virtual environment of its own, and
# pycep-parser 0.7.1 (a full Bicep syntax parse) sits beside it, since checkov pins 0.5.1.
$(INFRA_VENV)/.installed: requirements-infra.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (python3.13 not found)"; exit 1; }
	$(PYTHON313) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	$(INFRA_VENV)/bin/python -m pip install --quiet --no-warn-conflicts --upgrade --target $(INFRA_VENV)/pycep pycep-parser==0.7.1
	touch $@

deps: $(VENV)/.installed node_modules/.installed

demo: deps
	$(PY) -m scripts.demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

index-check: $(VENV)/.installed
	$(PY) scripts/worker_index_check.py .

infra-check: $(INFRA_VENV)/.installed
	$(INFRA_VENV)/bin/python scripts/infra_check.py

unit: deps
	$(PY) -m pytest -q

test: deps lint typecheck index-check infra-check unit

bench: deps
	$(PY) -m bench.rotation

bench-pull: deps
	$(PY) -m bench.pull

bench-notify: deps
	$(PY) -m bench.notify

bench-chaos: deps
	$(PY) -m bench.rotation --chaos

clean:
	rm -rf $(VENV) $(INFRA_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .demo
