# oktalab: `make run` runs the guides on the embedded sandbox; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
PARAMS ?= parameters/sandbox.yaml parameters/sandbox-portal.yaml
OUT    ?= runs/latest

.PHONY: setup run teardown test lint format bench sandbox-start sandbox-stop clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-* && touch $@

run: setup  ## run the guides' stages on the embedded sandbox and print the results table
	$(PY) -m oktalab run $(PARAMS) --out $(OUT)

teardown: setup
	$(PY) -m oktalab teardown $(PARAMS) --out $(OUT)-teardown

test: setup  ## the test suite (browser tests skip when Debian's chromium is absent)
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check oktalab tests benchmarks
	$(VENV)/bin/ruff format --check oktalab tests benchmarks
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix oktalab tests benchmarks
	$(VENV)/bin/ruff format oktalab tests benchmarks
	$(VENV)/bin/nbstripout notebooks/*.ipynb

bench: setup  ## benchmarks, reported as ratios against a baseline measured in the same run
	$(PY) benchmarks/run.py

sandbox-start: setup
	$(PY) -m oktalab sandbox start

sandbox-stop: setup
	$(PY) -m oktalab sandbox stop

clean:
	rm -rf runs .oktalab .pytest_cache
