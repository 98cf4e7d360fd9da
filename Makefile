# meshq — the commands a user and CI run. Every target installs what it needs itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

LOCK := requirements-dev.lock

.PHONY: help install lock protos test lint typecheck up demo bench scheduler-reference clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

# Everything (the [dev] extra is [all] plus the test tools) at the versions of $(LOCK), so
# every machine tests the same set; a requirement the lock does not pin yet still installs.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $(STAMP)

NODE_STAMP := clients/node/node_modules/.installed
$(NODE_STAMP): clients/node/package.json clients/node/package-lock.json
	# npm ci refuses a lock file without the other platforms' optional buf binaries (npm 11)
	cd clients/node && npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)  ## Create .venv, install meshq, its test tools and the Node client

lock: $(STAMP)  ## Re-pin requirements-dev.lock from pyproject.toml (after changing a requirement)
	$(VENV)/bin/pip-compile -q --extra dev --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --upgrade -o $(LOCK) pyproject.toml
	# the [dev] extra names meshq[all]: the project itself is not a pin
	sed -i '/^meshq @ /d' $(LOCK)

protos: $(STAMP)  ## Regenerate the Python stubs from protos/
	$(PY) -m meshq.tools_dev.gen_protos

lint: $(STAMP)  ## ruff
	$(VENV)/bin/ruff check services clients/python tests examples

typecheck: $(STAMP)  ## mypy
	$(VENV)/bin/mypy services clients/python/meshq/api

test: $(STAMP) $(NODE_STAMP) lint typecheck  ## Install everything and run the whole suite
	$(PY) -m pytest -q -p no:cacheprovider

up: $(STAMP)  ## Run every service on embedded defaults until Ctrl-C
	$(VENV)/bin/meshq up

demo: $(STAMP)  ## Start the stack, run a real job flow, print results
	$(VENV)/bin/meshq demo

bench: $(STAMP)  ## Queue benchmark (see docs/benchmarks.md)
	$(VENV)/bin/meshq bench queue

scheduler-reference: $(STAMP)  ## Large cron reference run: 10x the expressions and windows of make test
	MESHQ_REFERENCE_SCALE=10 $(PY) -m pytest -q -p no:cacheprovider tests/scheduler/test_reference.py

clean:  ## Remove the virtual environment
	rm -rf $(VENV)
