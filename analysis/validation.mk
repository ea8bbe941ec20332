# Validation against the papers and closed forms (issue 7). Included from the Makefile:
#   include analysis/validation.mk
#   make validate   runs analysis/validate.py and writes analysis/validation.md (generated;
#                   never edit it by hand). Picks up traces/qwen-coder-0.5b-1.5b.parquet when
#                   present. About 30-60 s on 2 cores. VALIDATE_ARGS: extra options
#                   (e.g. --quick, --seeds 20, --out FILE).
VALIDATE_ARGS ?=

.PHONY: validate

validate: $(STAMP)
	$(BIN)/python analysis/validate.py $(VALIDATE_ARGS)
