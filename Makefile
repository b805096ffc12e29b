# Set-up and entry points. Every target creates .venv when it is missing and
# installs the project with torch pinned (constraints.txt) so nothing else is resolved.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv demo test test-all lint bench bench-peer bench-quality clean

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

# The benchmark suite (benchmarks/suite.py; docs/benchmarks.md). BENCH_ARGS=--quick for a
# short run. bench-peer adds scvi-tools, in its own venv with torch pinned, side by side.
PEER_VENV := .venv-peer
PEER_PY := $(PEER_VENV)/bin/python
PEER_STAMP := $(PEER_VENV)/.installed-stamp
BENCH_ARGS ?=

bench: $(STAMP)
	$(PY) -c "import scanpy" 2>/dev/null || $(PY) -m pip install -q scanpy
	$(PY) benchmarks/suite.py $(BENCH_ARGS)

$(PEER_STAMP): constraints.txt
	test -x $(PEER_PY) || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_PY) -m pip install -q "torch==2.13.0"
	$(PEER_PY) -m pip install -q "scvi-tools==1.4.2"
	touch $(PEER_STAMP)

bench-peer: $(STAMP) $(PEER_STAMP)
	$(PY) -c "import scanpy" 2>/dev/null || $(PY) -m pip install -q scanpy
	$(PY) benchmarks/suite.py --peer $(PEER_PY) $(BENCH_ARGS)

# Quality side by side with scVI on every labelled set in ../shared/data (benchmarks/quality.py;
# hours on 2 cores). BENCH_ARGS narrows it, e.g. --data-sets pbmc4k --seeds 1.
bench-quality: $(STAMP) $(PEER_STAMP)
	$(PY) benchmarks/quality.py --peer $(PEER_PY) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
