# oktalab: `make run` runs the guides on the embedded sandbox; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# One stamp per install flavour, named by the checksum of the build files: an edit reinstalls.
CKSUM  := $(shell cat pyproject.toml setup.py | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(CKSUM)
DEV_STAMP := $(VENV)/.installed-dev-$(CKSUM)
PARAMS ?= parameters/sandbox.yaml parameters/sandbox-portal.yaml
# Empty: each run writes runs/<UTC timestamp>-<command>/ and runs/latest points to it.
OUT    ?=
OUT_ARG = $(if $(OUT),--out $(OUT))

.PHONY: setup setup-run js run teardown test lint format bench wheel-check sandbox-start sandbox-stop clean

setup: $(DEV_STAMP)      ## what `make test` and `make lint` need: running + the dev tools
setup-run: $(RUN_STAMP)  ## what running needs: oktalab with the sandbox and browser extras

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[sandbox,browser]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-run-* && touch $@

$(DEV_STAMP): pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f $(VENV)/.installed-* && touch $@ $(RUN_STAMP)

# Okta's own JavaScript clients (okta-auth-js, Sign-In Widget), the tests' judges of the sandbox
JS_STAMP := tests/js/node_modules/.package-lock.json
js: $(JS_STAMP)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  (cd tests/js && npm ci --no-audit --no-fund --loglevel=error) \
	    || echo "npm ci failed: the Okta JS judge tests will be skipped"; \
	else echo "npm not found: the Okta JS judge tests will be skipped"; fi

run: setup-run  ## run the guides' stages on the embedded sandbox and print the results table
	$(PY) -m oktalab run $(PARAMS) $(OUT_ARG)

teardown: setup-run
	$(PY) -m oktalab teardown $(PARAMS) $(OUT_ARG)

test: setup js  ## the test suite (browser tests skip without Debian's chromium, JS judges without npm)
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check oktalab tests benchmarks setup.py
	$(VENV)/bin/ruff format --check oktalab tests benchmarks setup.py
	$(VENV)/bin/nbstripout --verify notebooks/*.ipynb
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff check --fix oktalab tests benchmarks setup.py
	$(VENV)/bin/ruff format oktalab tests benchmarks setup.py
	$(VENV)/bin/nbstripout notebooks/*.ipynb

wheel-check: setup  ## build sdist + wheel, check them, run both guides from the wheel in a fresh venv
	VENV=$(VENV) PYTHON=$(PYTHON) .ci/wheel-smoke

bench: setup  ## benchmarks, reported as ratios against a baseline measured in the same run
	$(PY) benchmarks/run.py

sandbox-start: setup-run
	$(PY) -m oktalab sandbox start

sandbox-stop: setup-run
	$(PY) -m oktalab sandbox stop

clean:
	rm -rf runs .oktalab .pytest_cache
