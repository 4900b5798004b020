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

# mypy cannot follow the editable install's folder mapping (platform/ -> wuye), so it
# checks a plain copy of the package built into .venv/lint-site.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	rm -rf $(VENV)/lint-site && $(PY) -m pip install --quiet --no-deps --target $(VENV)/lint-site .
	cd $(VENV)/lint-site && ../bin/mypy --config-file ../../pyproject.toml -p wuye

## Benchmarks print figures; the last line of each is one JSON object.
bench: $(STAMP)
	$(PY) bench/graphql_overhead.py
	$(PY) bench/tenants.py
	$(PY) bench/estate_import.py
	$(PY) bench/notice_fanout.py
	$(PY) bench/workorders.py
	$(PY) bench/billing.py
	$(PY) bench/payments.py

clean:
	rm -rf $(VENV) .wuye .pytest_cache .mypy_cache .ruff_cache
