# The two commands a new user needs: `make demo` runs the product, `make test` runs the tests.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The port the demo serves on; the settings derive PUBLIC_BASE_URL's default from it.
PORT ?= 8000
export PORT

.PHONY: demo test lint format migrate bench clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

.env:
	$(BIN)/python scripts/make_env.py > .env
	@echo "Wrote .env with fresh SECRET_KEY and FIELD_ENCRYPTION_KEYS (demo settings)."

demo: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	@echo "Starting web + worker + beat (Ctrl-C stops all three)..."
	@# Not the Procfile's `release` phase: that is production's (collectstatic, check --deploy).
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile --port $(PORT) web worker beat

migrate: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Lint, then the whole suite. pytest's summary line is the last line printed.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var/ .pytest_cache
