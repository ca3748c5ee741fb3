# The two set-up commands of the README: `make demo` runs the monitor, `make test` runs the tests.
# Both install the locked set (requirements-dev.lock, with hashes) into .venv; `make lock` re-resolves
# the lock files after a change of pyproject.toml's dependencies.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements-dev.lock
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28

.PHONY: demo test lint install lock

$(BIN)/hardship: pyproject.toml $(LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/hardship

install: $(BIN)/hardship

demo: install
	$(BIN)/hardship demo

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .

# requirements.lock: the production image (no embedded broker, no test tools); requirements-dev.lock: dev and CI.
lock:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet 'uv>=0.4,<1'
	$(BIN)/uv pip compile pyproject.toml --extra rocksdb $(LOCK_FLAGS) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.lock
