# Set-up and everyday commands. Each target creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install compose-parser chromium demo dev test lint format bench clean

$(STAMP): pyproject.toml constraints.txt setup.py ykvos_dagster/vos3000/_cdr_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ykvos demo

dev: $(STAMP)
	$(BIN)/ykvos dev

# A Compose parser for the tests of docker-compose.yml: the Debian package docker-compose,
# installed with apt-get when running as root. Without one those tests are skipped.
compose-parser:
	@if command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1; then \
		true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; } \
			|| echo "installing docker-compose failed: the docker-compose.yml tests will be skipped"; \
	else \
		echo "no Compose parser (install docker-compose): the docker-compose.yml tests will be skipped"; \
	fi

# Debian's chromium and chromedriver for the browser check of the Dagster UI. Installed only as
# root and only where apt-get works; without them that test is skipped with the reason.
chromium:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq chromium chromium-driver) >/dev/null 2>&1 \
		|| echo "chromium could not be installed; the browser check will be skipped"; \
	else echo "chromium is not installed; the browser check will be skipped"; fi

# The whole suite with the host on UTC, then the time-zone-sensitive tests on Shanghai time.
test: $(STAMP) compose-parser chromium
	TZ=UTC $(BIN)/pytest
	TZ=Asia/Shanghai $(BIN)/pytest -m timezone

# Pull, decode-and-load and statistics benchmark; prints a report (about 5 minutes, 7 GB of memory).
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
	find ykvos_dagster -name "*.so" -delete
