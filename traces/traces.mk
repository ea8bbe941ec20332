# Real-model traces (issue 4); included from the top-level Makefile.
#   make traces            full trace (~2 h on 2 CPU cores; resumable: rerun to continue)
#   make traces QUICK=1    small trace in a few minutes, written to out/traces-quick/
# Variables: TRACES_VENV (default .venv), TRACES_MODELS (qwen-coder | smollm2 | gemma3),
# TRACES_ARGS (extra options for `cuhlm traces generate`, e.g. --threads 1).
TRACES_VENV ?= .venv
TRACES_PY = $(TRACES_VENV)/bin/python
TRACES_MODELS ?= qwen-coder
TRACES_FULL_ARGS ?= --prompts-per-kind 16 --max-new-tokens 256
TRACES_ARGS ?=

.PHONY: traces traces-install
traces-install:
	$(TRACES_PY) -m pip install -e ".[traces]"

traces: traces-install
	$(TRACES_VENV)/bin/cuhlm traces generate --models $(TRACES_MODELS) \
		$(if $(QUICK),--quick,$(TRACES_FULL_ARGS)) $(TRACES_ARGS)
