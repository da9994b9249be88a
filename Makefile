# neurosim: see README.md. Every target installs what it needs first (scripts/setup.sh).
PY := .venv/bin/python
SETUP := bash scripts/setup.sh

.PHONY: help setup demo main test rtl sim hw report bench clean

help:
	@echo "make main   - the whole chain end to end on the embedded default model"
	@echo "make test   - install what is needed and run the full test suite"
	@echo "make rtl    - emit Verilog for the default configurations into build/rtl/"
	@echo "make sim    - cocotb regression of the RTL on Icarus"
	@echo "make hw     - hardware models (area, timing, power) for the default configuration"
	@echo "make bench  - engine benchmark"

setup:
	@$(SETUP)

demo: setup
	$(PY) -m neurosim demo

main: setup
	$(PY) -m neurosim demo

test: setup
	$(PY) -m pytest -q

rtl: setup
	$(PY) -m neurosim rtl --defaults --out build/rtl

sim: setup
	$(PY) -m pytest -q testbench

hw: setup
	$(PY) -m neurosim hw --out build/hw

bench: setup
	$(PY) -m benchmarks.engine

clean:
	rm -rf build sim_build .pytest_cache
