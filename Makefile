# The two commands (see README): `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install run test bench clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Starts a local PouchDB Server unless COUCH_URL is set, then runs Sentinel in the foreground, with
# the gateway HTTP API beside it on GATEWAY_PORT (loopback).
GATEWAY_PORT ?= 5988
run: install
	$(BIN)/sentinel run $(if $(COUCH_URL),,--embedded) --gateway-port $(GATEWAY_PORT)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules *.egg-info .pytest_cache
