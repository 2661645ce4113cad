# Set-up and everyday commands. Each target creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo dev test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ykvos demo

dev: $(STAMP)
	$(BIN)/ykvos dev

# The whole suite with the host on UTC, then the time-zone-sensitive tests on Shanghai time.
test: $(STAMP)
	TZ=UTC $(BIN)/pytest
	TZ=Asia/Shanghai $(BIN)/pytest -m timezone

# Pull, decode-and-load and statistics benchmark; prints a report (about 12 minutes).
bench: $(STAMP)
	$(BIN)/python bench/cdr_bench.py run

lint: $(STAMP)
	$(BIN)/ruff check ykvos_dagster ykvos_dagster_tests
	$(BIN)/ruff format --check ykvos_dagster ykvos_dagster_tests

format: $(STAMP)
	$(BIN)/ruff format ykvos_dagster ykvos_dagster_tests
	$(BIN)/ruff check --fix ykvos_dagster ykvos_dagster_tests

clean:
	rm -rf $(VENV) .ykvos .pytest_cache
