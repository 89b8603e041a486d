# twasnet: `make demo` runs the whole workflow on the simulated demo cohort; `make test` runs the checks.
# Both create .venv on first use and install everything they need into it.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
CORES ?= 2
TEST_WORKERS ?= 4
# torch first, pinned: this version is a CPU wheel already on the machine (no multi-GB download).
TORCH_SPEC := torch==2.13.0
# adelie (elastic-net solver) declares numpy<2 but works on numpy 2, which msprime and pandas 3
# need: installed without its metadata's dependencies, checked by tests/test_enet.py.
ADELIE_SPEC := adelie==1.1.52
STAMP := $(VENV)/.installed

.PHONY: demo test unit install lint clean-demo scenarios report-check bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps $(ADELIE_SPEC)
	$(BIN)/python -c "import numpy, adelie, torch; assert int(numpy.__version__.split('.')[0]) >= 2"
	touch $(STAMP)

install: $(STAMP)

# the demo cohort and an independent target cohort of 500 (stage 2: predict, associate)
data/demo/target/phenotype.tsv: | $(STAMP)
	$(BIN)/twasnet simulate --preset demo --target 500 --out data/demo

demo: $(STAMP) data/demo/target/phenotype.tsv
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --configfile config/config.yaml --report results/report.html
	@echo
	@echo "Held-out R² per gene and model:   results/tables/r2.tsv"
	@echo "Genes kept/dropped (with h², p):  results/genes/selection.tsv"
	@echo "Scored against simulated truth:   results/tables/truth_evaluation.tsv"
	@echo "Causal-variant ranking per model: results/tables/importance_vs_truth.tsv"
	@echo "Model pairs compared (tests):     results/tables/comparison.md (and .tsv)"
	@echo "Figures:                          results/figures/"
	@echo "Report (open in a browser):       results/report.html"
	@echo "PredictDB files (S-PrediXcan):    results/export/predictdb/"
	@echo "Target cohort TWAS (stage 2):     results/target/twas.tsv"
	@echo "Versions, config, input hashes:   results/provenance.json"

# The capability scenarios (README, "Scenarios"): each preset simulated and run through the whole
# workflow in its own directory at the PredictDB window (+-1 Mb, config/scenario.yaml: three
# seeded splits), then summarised by benchmarks/capability.py and benchmarks/annotation_ceiling.py
# (what annotations could gain there at best). Presets: annotations uninformative (linear),
# informative about additive causal variants (annotated; nonlinear also has nonlinear genes), and
# informative about which variants act recessively or interact (nonlinear_annotated).
# SCENARIO_CONFIG adds an overlay (e.g. fewer models); SCENARIO_DIR moves the runs.
SCENARIOS ?= linear nonlinear annotated nonlinear_annotated
SCENARIO_DIR ?= results-scenarios
SCENARIO_CONFIG ?=
scenarios: $(STAMP)
	for s in $(SCENARIOS); do \
	  test -f $(SCENARIO_DIR)/$$s/data/simulation.json || \
	    $(BIN)/twasnet simulate --preset $$s --out $(SCENARIO_DIR)/$$s/data || exit 1; \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) \
	    --snakefile $(CURDIR)/Snakefile --directory $(SCENARIO_DIR)/$$s \
	    --configfile $(CURDIR)/config/config.yaml $(CURDIR)/config/scenario.yaml \
	      $(abspath $(SCENARIO_CONFIG)) || exit 1; \
	  echo "== scenario $$s"; \
	  $(BIN)/python benchmarks/capability.py --run $(SCENARIO_DIR)/$$s || exit 1; \
	  $(BIN)/python benchmarks/annotation_ceiling.py --run $(SCENARIO_DIR)/$$s || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint --configfile config/config.yaml

# Whole test files per worker, in collection order (tests/conftest.py puts the workflow files
# first). TEST_WORKERS exceeds the cores on purpose: a tiny workflow run waits on job start-ups
# and Snakemake's scheduling about half of its time, so four workers keep two cores busy (on an
# idle 2-core machine: 13 min with two workers, 7.8 min with four, before the shared run). The
# one finished workflow run the tests share is built once per session (tests/conftest.py).
# As root (e.g. in a container), Debian's chromium is installed when missing, so that the report
# test opens the report rather than skipping (as tests/slurm_cluster.py installs Slurm); elsewhere
# that test skips and says how to install it.
test: lint
	@if [ "$$(id -u)" = 0 ] && ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then \
		echo "installing chromium for the report test (apt-get)"; \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
			|| echo "chromium could not be installed: the report test will skip"; \
	fi
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The unit tests alone (no Snakemake run): about a minute, for quick feedback while editing.
unit: $(STAMP)
	$(BIN)/pytest -q -n $(CORES) -m "not workflow"

clean-demo:
	rm -rf results data/demo .snakemake

# Open results/report.html (from `make demo`) in headless chromium and check that it shows the
# comparison table, the setup page and the figures; screenshots go to results/report_check/.
# Needs Debian's chromium: apt-get install chromium.
report-check: $(STAMP)
	$(BIN)/python tools/report_check.py results/report.html --out results/report_check

# Rerun check: rerun the workflow from a config in a fresh directory and compare every table with
# the previous run's (results/tables; fit times excepted) byte for byte; differing cells are listed
# and the target fails. Paths in the config are resolved in BENCH_DIR, where data/ and config/ are
# linked, so keep the config's inputs under data/ (as the demo does) or give absolute paths.
BENCH_CONFIG ?= config/config.yaml
BENCH_DIR ?= bench/rerun
PREVIOUS ?= results/tables

bench: $(STAMP)
	rm -rf $(BENCH_DIR) && mkdir -p $(BENCH_DIR)
	ln -s $(CURDIR)/data $(BENCH_DIR)/data
	ln -s $(CURDIR)/config $(BENCH_DIR)/config
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) --snakefile Snakefile \
		--directory $(BENCH_DIR) --configfile $(abspath $(BENCH_CONFIG))
	$(BIN)/twasnet compare-runs $(PREVIOUS) $(BENCH_DIR)/results/tables
