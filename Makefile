# Every target creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: dev test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Run the platform on embedded PostgreSQL and Redis (or DATABASE_URL / REDIS_URL if set).
dev: $(STAMP)
	$(VENV)/bin/wuye dev

## Run the test suite (real PostgreSQL and Redis: embedded, or WUYE_TEST_*_URL).
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy -p wuye

## Benchmarks print figures; the last line of each is one JSON object.
bench: $(STAMP)
	$(PY) bench/graphql_overhead.py
	$(PY) bench/tenants.py

clean:
	rm -rf $(VENV) .wuye .pytest_cache .mypy_cache .ruff_cache
