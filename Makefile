# cuhlm_sim — the two commands a newcomer needs:
#   make demo    create .venv, install the project, run scenarios/default.yaml
#   make test    run the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-core
TEST_STAMP := $(VENV)/.installed-test
# Extras for the tests: dev tools, plus torch/transformers so the trace generator is tested
# on a tiny model (no weights are downloaded).
TEST_EXTRAS ?= dev,traces-core
# What `make lint` and `make format` cover (CI runs `make lint`).
LINT_PATHS := cuhlm_sim tests analysis

.PHONY: demo test lint format install install-test bench docs clean golden

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/cuhlm run scenarios/default.yaml --out runs/default/latest --force

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: $(STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

docs: $(STAMP)
	$(BIN)/python -c "from cuhlm_sim.config.reference import scenario_reference_markdown as m; open('docs/scenario.md','w').write(m())"

# Golden summaries (tests/golden): regenerate only after a model change bumped MODEL_REVISION.
golden: $(STAMP)
	$(BIN)/python tests/golden/regen.py

bench: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/bench -m benchmark --benchmark-only

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks

include traces/traces.mk
include accuracy/accuracy.mk
include analysis/analysis.mk
include analysis/validation.mk
