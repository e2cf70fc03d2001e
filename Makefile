# Quick start: `make run` serves the app; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint format bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --build-constraint build-constraints.txt -e '.[dev]'
	touch $@

setup: $(BIN)/.installed
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_dictionary casereports/data/core_dataset_v1.csv

run: setup
	$(BIN)/python manage.py setup_demo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: $(BIN)/.installed
	$(BIN)/pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/logic_per_record.py
	$(BIN)/python bench/dictionary_load.py
	$(BIN)/python bench/audit_cost.py
	$(BIN)/python bench/case_submit.py || [ $$? -eq 2 ]  # exit 2: no PostgreSQL or wrk here
	$(BIN)/python bench/patient_survey.py || [ $$? -eq 2 ]  # exit 2: no PostgreSQL here
	$(BIN)/python bench/federated_command.py --rows 100000
