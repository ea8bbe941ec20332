# Measured accuracy of U-HLM / CU-HLM in a real closed loop (issue 13); included from the
# top-level Makefile.
#   make accuracy          full run (about 1-2 h on one CPU thread; resumable: rerun to continue)
# Variables: ACCURACY_VENV (default .venv), ACCURACY_MODELS (qwen-coder),
# ACCURACY_ARGS (extra options for `cuhlm accuracy`, e.g. --threads 2 or --configs llm_only).
ACCURACY_VENV ?= .venv
ACCURACY_MODELS ?= qwen-coder
ACCURACY_FULL_ARGS ?= --prompts-per-kind 8 --max-new-tokens 128 --batch-size 8 --threads 1
ACCURACY_ARGS ?=

.PHONY: accuracy accuracy-install
accuracy-install:
	$(ACCURACY_VENV)/bin/python -m pip install -e ".[traces]"

accuracy: accuracy-install
	HF_HUB_OFFLINE=1 $(ACCURACY_VENV)/bin/cuhlm accuracy --models $(ACCURACY_MODELS) \
		$(ACCURACY_FULL_ARGS) $(ACCURACY_ARGS)
