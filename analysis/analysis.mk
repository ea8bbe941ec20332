# Headline experiments (issue 6). Included from the Makefile: `include analysis/analysis.mk`.
#   make sweep   run the headline sweeps and capacity searches into $(ANALYSIS_OUT) (resumable)
#   make plots   the same, then draw the figures; PNGs go to analysis/figures/ (committed)
# Runs are stored by hash under $(ANALYSIS_OUT), so a second `make plots` only redraws.
ANALYSIS_OUT ?= runs/analysis
ANALYSIS_WORKERS ?=
ANALYSIS_FLAGS = --out $(ANALYSIS_OUT) $(if $(ANALYSIS_WORKERS),--workers $(ANALYSIS_WORKERS))

.PHONY: sweep plots

sweep: $(STAMP)
	$(BIN)/python analysis/make_figures.py $(ANALYSIS_FLAGS) --run-only

plots: $(STAMP)
	$(BIN)/python analysis/make_figures.py $(ANALYSIS_FLAGS) --figures analysis/figures
