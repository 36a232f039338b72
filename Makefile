# hotline12366 — two commands do all set-up: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps run test lint bench pbx-start pbx-stop prompts clean models

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/system-deps.sh

## make run: migrate, start the sandboxed Asterisk where this machine can, serve on 127.0.0.1:8000
run: install system-deps
	$(BIN)/hotline migrate
	$(BIN)/hotline pbx start --optional
	$(BIN)/hotline serve --host 127.0.0.1 --port 8000 --no-migrate

## make test: lint, provision the Asterisk sandbox (cached), then the whole suite on SQLite and
## PostgreSQL once per named moment of the suite's clock (tests/clock_runs.py), in parallel workers
test: install system-deps lint
	$(BIN)/python -m tests.provision
	$(BIN)/python -m tests.clock_runs

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install system-deps
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

prompts: install system-deps
	$(BIN)/hotline prompts render

pbx-start: install system-deps
	$(BIN)/hotline pbx start

pbx-stop: install
	$(BIN)/hotline pbx stop

clean:
	-$(BIN)/hotline pbx stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

## make models: the production Chinese Vosk model into var/models (checksum-checked; fails fast offline)
models:
	@scripts/models.sh
