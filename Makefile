# Set-up and entry points. Every target creates .venv when it is missing and
# installs the project with torch pinned (constraints.txt) so nothing else is resolved.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test test-all lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh

test: $(STAMP)
	-bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q

test-all: $(STAMP)
	-bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q -m ""

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks

bench: $(STAMP)
	$(PY) -m pip install -q scanpy
	$(PY) benchmarks/loading.py

clean:
	rm -rf $(VENV) .pytest_cache
