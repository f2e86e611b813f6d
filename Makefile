# The two commands of the README: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup setup-dev setup-test services stop run demo test clean

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

# The tests also need chromium for the dashboard's browser test.
setup-test:
	scripts/setup.sh --dev --browser

services: setup
	scripts/services.sh start

stop:
	scripts/services.sh stop

# Set up, start the local services, migrate, then run the API, a worker and
# beat in the foreground; Ctrl-C stops them and the services it started.
run: setup
	scripts/run.sh

# The same, plus real catalogs and replayed shopper traffic for the dashboard.
demo: setup
	scripts/run.sh --demo

# Set up what the tests need and run them against the real services. Tests
# that stop or kill services (marker "fault") run last (tests/conftest.py).
test: setup-test
	scripts/services.sh start
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	scripts/services.sh stop || true
	rm -rf .local
