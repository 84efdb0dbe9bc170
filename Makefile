# contentcloud: two commands do all the set-up on a fresh machine.
#   make demo   - install, then run the whole pipeline on the embedded defaults (contentcloud demo)
#   make test   - install everything the tests need, fetch and start the test servers, run pytest
# Everything goes into ./.venv; Java jars for the test servers into tests/servers/*/lib.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test quick-test install servers lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,airflow]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/contentcloud demo

servers: $(STAMP)
	$(BIN)/python -m tests.servers fetch

test: $(STAMP) servers
	bash scripts/install-test-deps
	CI=$${CI:-true} $(BIN)/python -m pytest $(PYTEST_ARGS)

quick-test: $(STAMP)
	$(BIN)/python -m pytest -m "not integration" -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP) servers
	for b in bench/*.py; do case $$b in */_*) ;; *) $(BIN)/python $$b || exit 1;; esac; done

clean:
	rm -rf $(VENV) var .pytest_cache
