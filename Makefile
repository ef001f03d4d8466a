# Everything bootstraps .venv itself: a fresh machine needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint format bench messages clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/saebom demo

# The suite runs on SQLite, then again on PostgreSQL when SAEBOM_TEST_DATABASE_URL is set
# (postgres://user@host:port/name). Both runs always happen; the target fails if either did.
# pytest's exit code 5 (no tests collected, e.g. a -k that matches none) counts as a pass.
# Extra arguments: make test PYTEST_ARGS="-x -k login".
test: $(STAMP)
	@status=0; \
	echo "==> pytest on SQLite"; \
	env -u SAEBOM_TEST_DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ] || status=1; \
	if [ -n "$${SAEBOM_TEST_DATABASE_URL:-}" ]; then \
		echo "==> pytest on PostgreSQL (SAEBOM_TEST_DATABASE_URL)"; \
		$(BIN)/python -m pytest $(PYTEST_ARGS) || [ $$? -eq 5 ] || status=1; \
	else \
		echo "==> PostgreSQL run skipped: SAEBOM_TEST_DATABASE_URL is not set"; \
	fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy src

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

bench: $(STAMP)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Regenerate the translation catalogue after changing user-visible text (needs GNU gettext).
messages: $(STAMP)
	cd src/saebom && ../../$(BIN)/django-admin makemessages -l ko --no-obsolete --ignore '*/migrations/*' && ../../$(BIN)/django-admin compilemessages -l ko

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
