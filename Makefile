# make run | make test | make setup | make lint | make bench
# Everything a fresh machine with Python 3.11 needs is installed here. Bytecode is compiled at install:
# every cron start would otherwise recompile ~640 modules (PYTHONDONTWRITEBYTECODE is set on these machines).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed

# Offline machines and cron: no telemetry from any tool.
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE := 1
export FEAST_USAGE := False

.PHONY: setup run test lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(PY) -m pip install --quiet uv
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps --config-settings editable_mode=compat -e .
	touch $(STAMP)

run: setup
	$(PY) run_all.py

test: setup
	$(PY) -m pytest --durations=20   # the slowest twenty in the log: where CI time goes

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy   # the types of common/, the use cases and run_all ([tool.mypy] in pyproject.toml)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet   # the docs site, into var/site: a broken link fails

bench: setup
	@for b in bench/bench_*.py; do $(PY) $$b || exit $$?; done

clean:
	rm -rf var
