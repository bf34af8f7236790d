# Expertline developer commands. Everything runs from the repository root.
#   make run                 the marketplace on http://127.0.0.1:8000/ (embedded mode)
#   make test ARGS="-k foo"  the full CI run; ARGS go to pytest
#   make setup               .venv + dependencies
#   make lint                ruff + mypy only
#   make bench               benchmarks (with PostgreSQL/Redis)
#   make clean               remove var/ and .venv/

SHELL := /bin/bash
ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV_BIN := $(ROOT)/.venv/bin
ARGS ?=

.PHONY: all run test setup lint bench clean

all: test

run:
	@bash "$(ROOT)/scripts/run.sh"

test:
	@bash "$(ROOT)/scripts/test.sh" $(ARGS)

setup:
	@bash "$(ROOT)/scripts/setup.sh"

lint: setup
	@cd "$(ROOT)" && echo "==> ruff check" && "$(VENV_BIN)/ruff" check . \
		&& echo "==> ruff format --check" && "$(VENV_BIN)/ruff" format --check . \
		&& echo "==> mypy" && "$(VENV_BIN)/mypy" .

bench:
	@cd "$(ROOT)" && if [ -f scripts/bench.sh ]; then \
		bash scripts/bench.sh $(ARGS); \
	elif [ -f benchmarks/run_all.py ]; then \
		bash scripts/setup.sh && export PATH="$(VENV_BIN):$$PATH" \
			&& source scripts/services.sh && python benchmarks/run_all.py $(ARGS); \
	else \
		echo "No benchmarks here yet: how to run them is documented in README.md"; \
	fi

clean:
	rm -rf "$(ROOT)/var" "$(ROOT)/.venv"
