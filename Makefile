# The pipeline as a graph of real files: each stage's outputs are targets, and the code it runs, its
# inputs and config.yaml are prerequisites, so `make all` rebuilds only what changed.
# The code a stage runs is not listed by hand: .make/sources.mk is generated from the imports
# (pipeline/core/dependencies.py), and tests/test_make.py checks every stage's rule against what the
# stage's process really imports. `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:

# Every core by default: the graph below lets the stages that do not depend on each other (nonresponse,
# models, measurement, the figures, the spreadsheets) run side by side. A -j given on the command line
# wins (`make -j1 all` builds one stage at a time); outputs are the same bytes either way. Parallel
# stages' log lines interleave, each naming its stage; output is not held back per recipe
# (--output-sync), which would silence `make test` and `make bench` until they end.
# The cores this process may use, not the OpenMP thread limit: nproc honours OMP_NUM_THREADS and
# OMP_THREAD_LIMIT, which the pipeline sets to 1 for its own processes (pipeline/__init__.py) and many
# clusters set for everyone, and which would turn every make started from Python (`make bench`, the
# tests, `lsp-rap`) or from such a shell into a one-stage-at-a-time build.
JOBS := $(shell env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null \
	|| getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(JOBS)
endif

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
CONFIG := config.yaml
RAW := data/raw
PROCESSED := data/processed

# Each stage is one command (`$(STAGE) analyse`), and make still sees each stage's own targets. The
# commands go through a preloading fork server (pipeline/core/stage_server.py): the first stage starts
# it in the background, later ones run in a child of it with the libraries already imported (about 0.5
# to 1.7 CPU-s saved per stage); it exits after LSP_RAP_STAGE_SERVER_IDLE seconds idle (default 90).
# `make all LSP_RAP_STAGE_SERVER=0` (or the variable set to 0 in the environment) runs every stage in its
# own fresh process instead; the outputs are the same bytes either way.
LSP_RAP_STAGE_SERVER ?= 1
export LSP_RAP_STAGE_SERVER
STAGE := $(PY) -m pipeline

# SOURCES_<command>: every pipeline file the command runs, from its transitive imports; regenerated
# (with the system Python: standard library only) whenever a module changes, and then make restarts.
PIPELINE_CODE := $(wildcard pipeline/*.py pipeline/*/*.py pipeline/*/*/*.py)
SOURCES_MK := .make/sources.mk
$(SOURCES_MK): $(PIPELINE_CODE)
	@$(PYTHON) -m pipeline dependencies $@
include $(SOURCES_MK)

# Besides its code and data every stage reads the codebook and the config keys its code reads: it depends on
# the file of those keys (.make/config/<stage>.json, named by CONFIG_<stage> in .make/config.mk; config.yaml
# itself for the report, which shows it whole), which pipeline/core/config_slices.py rewrites only when
# those keys change; so an edit of config.yaml reruns only the stages that read what changed. Which keys a
# stage reads is recorded from its code as it runs (pipeline/core/config_reads.json, held to a fresh
# recording by tests/test_config_reads.py). Made with the environment's Python (it parses YAML), so not
# for the goals that must work without one.
CONFIG_MK := .make/config.mk
ifeq ($(filter help clean venv,$(MAKECMDGOALS)),)
$(CONFIG_MK): $(CONFIG) pipeline/core/config_slices.py pipeline/core/config_reads.json pipeline/core/config.py \
		$(INSTALLED)
	@$(STAGE) config-slices $@
-include $(CONFIG_MK)
.make/config/%.json: | $(INSTALLED)
	@$(STAGE) config-slices $(CONFIG_MK)
endif
FRAME := $(RAW)/lsp_frame_2008.csv
RAW_INPUTS := $(filter-out $(RAW)/README.md,$(wildcard $(RAW)/*))

RESPONSES := $(PROCESSED)/responses_coordinator.parquet $(PROCESSED)/responses_partner.parquet
INGESTED := $(RESPONSES) $(PROCESSED)/ingest_repairs.csv $(PROCESSED)/manifest.json
VALIDATED := $(PROCESSED)/valid_coordinator.parquet $(PROCESSED)/valid_partner.parquet \
	$(PROCESSED)/rejected.csv $(PROCESSED)/validation_report.json
DERIVED := $(PROCESSED)/analysis_base.parquet analysis/tables/scale_reliability.csv
TABLES := analysis/tables/estimates.csv analysis/tables/comparisons.csv analysis/tables/maturity_sensitivity.csv \
	analysis/tables/power.csv analysis/tables/published_vs_reproduced.csv analysis/tables/summary.md \
	analysis/manifest.json
NONRESPONSE_TABLES := $(foreach t,nonresponse_frame_comparison nonresponse_propensity nonresponse_r_indicators \
	weight_diagnostics weighting_sensitivity weighting_se_ratios,analysis/tables/$(t).csv)
MODEL_TABLES := analysis/tables/primary_tests.csv analysis/tables/models.csv analysis/tables/model_tests.csv \
	analysis/tables/partner_imputation.csv analysis/tables/primary_tests_by_weighting.csv analysis/models_manifest.json
CFA_TABLE := analysis/tables/cfa_fit.csv

# Figures: see the figures section below.
FIGURE_NAMES := coverage challenge financial_influence barriers support_costs_known resources_mapped \
	support_team_composition forest maturity_profile case_studies published nonresponse
LIKERT_FIGURES := $(foreach e,strategy staff_and_skills style synergies steering standards systems,\
	likert_$(e)_tier likert_$(e)_maturity)
FIGURES_DIR := figures
# The figure modules the stage loads by name from the registry, with what they import beyond the stage's
# own code (each figure's own code; generated with the SOURCES_ lists).
FIGURE_MODULES := $(FIGURE_CODE)
FIGURE_INPUTS := $(PROCESSED)/analysis_base.parquet $(FRAME) analysis/tables/estimates.csv \
	analysis/tables/comparisons.csv analysis/tables/published_vs_reproduced.csv
FIGURE_FILES = $(foreach n,$(1),$(FIGURES_DIR)/$(n).png $(FIGURES_DIR)/$(n).svg $(FIGURES_DIR)/$(n).csv \
	$(FIGURES_DIR)/$(n).caption.txt)
FIGURES := $(call FIGURE_FILES,$(FIGURE_NAMES) $(LIKERT_FIGURES))
REPORT_TABLES := analysis/report_tables.json
REPORT := analysis/report.html analysis/technical_annex.html analysis/data_dictionary.html
AXE := node_modules/axe-core/axe.min.js
SPREADSHEETS := analysis/lsp_survey_tables.xlsx analysis/lsp_survey_tables.ods
IMPROVEMENT_TOOL := analysis/improvement_tool.html analysis/improvement_tool.json
IMPROVEMENT_TEMPLATES := $(wildcard pipeline/templates/improvement_tool.*)

.PHONY: all help venv synthetic ingest validate derive analyse nonresponse models measurement test lint clean \
	browser-tools

## all: create the virtual environment if needed, then run every stage that is out of date
# In critical-path order: under -j make starts the first of these whose inputs are ready whenever a job
# slot frees, so the figures (the longest stage, on the path analyse -> figures -> report) start the
# moment analyse ends, and models, nonresponse, the improvement tool and measurement (off that path,
# longest first), then report-tables and the spreadsheets (which need the side stages' tables, never a
# figure) fill the other core.
all: $(TABLES) $(FIGURES) $(MODEL_TABLES) $(NONRESPONSE_TABLES) $(IMPROVEMENT_TOOL) $(CFA_TABLE) \
		$(REPORT_TABLES) $(SPREADSHEETS) $(REPORT)

## help: list the targets with one line each
help:
	@grep -hE '^## ' $(MAKEFILE_LIST) | sed -e 's/^## //' | awk -F': ' '{printf "  %-16s %s\n", $$1, $$2}'

## venv: create .venv and install the locked dependencies (requirements.lock), compiled to bytecode
venv: $(INSTALLED)

# Bytecode is compiled at install (uv's --compile-bytecode; pip compiles by default): where
# PYTHONDONTWRITEBYTECODE=1 is set, nothing else ever writes it, and every stage process would compile
# pandas and plotnine afresh (about 5 s each).
$(INSTALLED): requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version.split()[0]' \
		|| { echo "error: set PYTHON=/path/to/python3.11 (found $(PYTHON))" >&2; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9 \
		&& $(VENV)/bin/uv pip sync --quiet --compile-bytecode --python $(PY) requirements.lock \
		|| $(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	cp requirements.lock $@  # the stamp holds what was installed: the figure stage hashes it

## synthetic: regenerate the synthetic survey exports in data/raw (not part of `all`; the output is committed)
synthetic: $(INSTALLED)
	$(STAGE) synthetic

## ingest: read the survey exports into tidy tables and write the manifest
ingest: $(INGESTED)

$(INGESTED) &: $(SOURCES_ingest) $(CONFIG_ingest) $(RAW)/codebook.yaml $(RAW_INPUTS) $(INSTALLED)
	$(STAGE) ingest

## validate: check every row against the codebook schemas and the frame; rejects to rejected.csv
validate: $(VALIDATED)

$(VALIDATED) &: $(SOURCES_validate) $(RESPONSES) $(FRAME) $(CONFIG_validate) $(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) validate

## derive: join frame variables, score the 7S scales (with Cronbach's alpha), define maturity
derive: $(DERIVED)

$(DERIVED) &: $(SOURCES_derive) $(PROCESSED)/valid_coordinator.parquet $(PROCESSED)/valid_partner.parquet \
		$(FRAME) $(CONFIG_derive) $(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) derive

## analyse: design-based estimates, comparisons with FDR control, maturity sensitivity and power
analyse: $(TABLES)

$(TABLES) &: $(SOURCES_analyse) $(PROCESSED)/analysis_base.parquet $(RAW)/published_targets.yaml $(FRAME) \
		$(CONFIG_analyse) $(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) analyse

## browser-tools: axe-core for the report's accessibility test, pinned by package-lock.json (needs npm)
browser-tools: $(AXE)

$(AXE): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

## nonresponse: respondents against the frame, response propensity, R-indicators, weight diagnostics and sensitivity
nonresponse: $(NONRESPONSE_TABLES)

$(NONRESPONSE_TABLES) &: $(SOURCES_nonresponse) $(PROCESSED)/analysis_base.parquet $(FRAME) \
		$(CONFIG_nonresponse) $(RAW)/codebook.yaml \
		$(INSTALLED)
	$(STAGE) nonresponse

## models: adjusted tier and maturity effects (analytic designs), the two primary tests, partners with imputed maturity
models: $(MODEL_TABLES)

$(MODEL_TABLES) &: $(SOURCES_models) $(PROCESSED)/analysis_base.parquet $(FRAME) $(CONFIG_models) \
		$(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) models

## measurement: CFA of the 7S structure (seven, two, one factors) and coordinator-partner invariance
measurement: $(CFA_TABLE)

$(CFA_TABLE): $(SOURCES_measurement) $(PROCESSED)/analysis_base.parquet $(CONFIG_measurement) \
		$(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) measurement

## test: run the whole test suite on two cores (the tests sharing one built copy stay on one worker)
test: $(INSTALLED)
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(PY) -m pytest -n 2 --dist loadgroup  # the tests' own makes pick their -j

## lint: ruff over the project
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .

## clean: remove every generated output (keeps the virtual environment and data/raw)
clean:
	find $(PROCESSED) -mindepth 1 ! -name .gitkeep -delete
	rm -rf analysis/tables analysis/manifest.json $(REPORT_TABLES) $(REPORT) $(SPREADSHEETS) analysis/.*.tmp $(FIGURES_DIR) \
		analysis/methods_validation.* analysis/truth_vs_estimate.csv analysis/models_manifest.json \
		analysis/model_validation.* analysis/weighting_validation.* .make/screen analysis/improvement_tool.*

# ---------------------------------------------------------------------------------------------- figures
# Every figure is four real files (png, svg, csv of the plotted numbers, caption). One process draws them
# all, so the import floor is paid once. Its stamp, figures/.checked, is the target that depends on the
# code, inputs and config: when any of them changed, make runs `python -m pipeline figures --stale-only`,
# which redraws only the figures whose own module, inputs or shared figure code changed in content since
# they were last drawn (a digest beside each figure, figures/.<name>.sources.sha256), writes a figure's
# files only where their bytes change, and stamps figures/.checked with the time it started. Editing one
# figure module therefore redraws that figure alone; a rerun of analyse that writes the same tables
# redraws nothing. The Likert figures (likert_<element>_<tier|maturity>) share likert.py.
# The figure files are made from the stamp by a recipe that does nothing ("+", a line make runs even
# under -n and -q): make reads their times again after it, so what is made from them (the report) reruns
# only when a figure's bytes changed, and `make -q` agrees. A missing figure file makes the stage run
# (figures-missing, a phony prerequisite of the stamp then).
# tests/test_figures.py checks FIGURE_NAMES + LIKERT_FIGURES against the registry (pipeline/study/outputs/),
# and SOURCES_figures + FIGURE_MODULES against the code the stage hashes for each figure.

.PHONY: figures report-tables report spreadsheets verify figures-missing

## figures: draw the out-of-date figures into figures/ (png, svg, plotted numbers as csv, caption)
figures: $(FIGURES)

FIGURES_CHECKED := $(FIGURES_DIR)/.checked
$(FIGURES_CHECKED): $(SOURCES_figures) $(FIGURE_MODULES) $(FIGURE_INPUTS) $(CONFIG_figures) $(RAW)/codebook.yaml \
		$(INSTALLED) $(if $(filter-out $(wildcard $(FIGURES)),$(FIGURES)),figures-missing)
	$(STAGE) figures --stale-only

$(FIGURES) &: $(FIGURES_CHECKED)
	+

## report-tables: analysis/report_tables.json, every table the report's two pages show, as shown, from the analysis tables (no figure)
report-tables: $(REPORT_TABLES)

# The report's templates decide which tables a page draws; the improvement tool's page is not the report's.
REPORT_TEMPLATES := $(filter-out $(IMPROVEMENT_TEMPLATES),$(wildcard pipeline/templates/*.j2 pipeline/templates/*.css pipeline/templates/sections/*.j2))
# What the report's tables are made from: every stage's tables, the analysis base and the frame (the
# response counts), the run's manifests; never a figure, so report-tables runs beside the figure stage and
# the spreadsheets need neither the figures nor the pages.
REPORT_TABLE_INPUTS := $(TABLES) $(NONRESPONSE_TABLES) $(MODEL_TABLES) $(CFA_TABLE) \
	analysis/tables/scale_reliability.csv $(PROCESSED)/analysis_base.parquet $(FRAME) \
	$(wildcard docs/methods_validation_weighting.csv) $(wildcard docs/methods_validation_informative.csv) \
	$(PROCESSED)/manifest.json $(PROCESSED)/validation_report.json

$(REPORT_TABLES): $(SOURCES_report_tables) $(REPORT_TEMPLATES) $(REPORT_TABLE_INPUTS) $(CONFIG_report-tables) \
		$(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) report-tables

## report: analysis/report.html (the main page: findings first, headline charts), technical_annex.html (methods, weighting, models, quality, provenance) and data_dictionary.html
report: $(REPORT)

# The pages draw the tables of report_tables.json (the stage stops if they differ) beside the figures.
$(REPORT) &: $(SOURCES_report) $(REPORT_TEMPLATES) $(FIGURES) $(REPORT_TABLES) $(REPORT_TABLE_INPUTS) \
		$(CONFIG_report) $(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) report

## spreadsheets: every table the report shows and every reusable analysis table as accessible .xlsx and .ods
spreadsheets: $(SPREADSHEETS)

# analysis/report_tables.json is every table the report's two pages show, as shown (report-tables writes it).
$(SPREADSHEETS) &: $(SOURCES_spreadsheets) $(TABLES) analysis/tables/scale_reliability.csv $(CONFIG_spreadsheets) \
		$(NONRESPONSE_TABLES) $(MODEL_TABLES) $(CFA_TABLE) $(REPORT_TABLES) $(FRAME) \
		$(PROCESSED)/validation_report.json \
		$(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) spreadsheets

## verify: recompute every figure's numbers from data/processed independently and compare (exit 2 on mismatch)
verify: $(FIGURES) $(INSTALLED)
	$(STAGE) verify

.PHONY: improvement

## improvement: the improvement tool page (analysis/improvement_tool.html) and its national reference values
improvement: $(IMPROVEMENT_TOOL)

$(IMPROVEMENT_TOOL) &: $(SOURCES_improvement) $(IMPROVEMENT_TEMPLATES) $(PROCESSED)/analysis_base.parquet $(FRAME) \
		$(CONFIG_improvement) $(RAW)/codebook.yaml $(INSTALLED)
	$(STAGE) improvement

.PHONY: validate-methods

## validate-methods: simulated surveys with known truth (200 per scenario; 100 per strength for the sensitivity sizes); CI coverage, type I error and bias (not in all or test)
validate-methods: $(TABLES) $(INSTALLED)
	$(STAGE) validate-methods
	$(STAGE) validate-weighting
	$(STAGE) validate-models

.PHONY: bench

## bench: time cold, no-op and partial rebuilds, every stage, memory and 10x-1000x scaling (slow, about 30 min; not in all or test; BENCH_ARGS=--quick to try it, BENCH_ARGS="--only scaling --scales 1000" for one phase)
bench: $(INSTALLED)
	$(PY) benchmarks/bench.py --venv $(abspath $(VENV)) $(BENCH_ARGS)
