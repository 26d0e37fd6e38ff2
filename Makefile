# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/nestor/v1/*.proto)

.PHONY: venv demo test lint proto bench docs clean

$(STAMP): constraints.txt requirements-dev.txt client_sdk/pyproject.toml controller/pyproject.toml executor/pyproject.toml \
		dashboard/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e client_sdk -e controller -e executor -e dashboard -r requirements-dev.txt
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/nestor demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --durations=25 tests

lint: $(STAMP)
	$(BIN)/ruff check .

# Regenerates the committed stubs; tests/test_proto_stubs.py fails when they are stale.
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=client_sdk --pyi_out=client_sdk \
		--grpc_python_out=client_sdk $(PROTOS)

# Benchmarks print comparable tables; they install their peers (Optuna, ...) first.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-bench.txt
	$(BIN)/python bench/overhead.py

# The documentation site (docs/, mkdocs.yml) into build/site; --strict fails on a broken link.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir build/site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache nestor.db* .nestor-demo build examples/node/node_modules
