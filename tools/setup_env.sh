#!/usr/bin/env bash
# Create (or update) the project virtual environment: torch + torchvision for CPU, Detectron2 v0.6 built from the
# PyPI sdist `pb1-detectron2==0.6` into a pure-Python wheel (with a stand-in for the compiled detectron2._C), the
# pinned dependencies, and this project editable with its test extras.
#
# Idempotent: when nothing it depends on changed, a second run checks the environment and exits in a few seconds.
# Environment variables:
#   PEDET_VENV     where the venv lives (default: <repo>/.venv)
#   PEDET_PYTHON   interpreter that creates it (default: python3.11, else python3)
#   PEDET_SKIP_DETECTRON2=1  do not build/install our Detectron2 (you bring an official build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PEDET_VENV:-$ROOT/.venv}"
CONSTRAINTS="$ROOT/requirements/constraints-cpu-py311.txt"
STAMP="$VENV/.pedet-setup-stamp"

if [ -z "${PEDET_PYTHON:-}" ]; then
  if command -v python3.11 >/dev/null 2>&1 && python3.11 -c "" >/dev/null 2>&1; then PEDET_PYTHON=python3.11; else PEDET_PYTHON=python3; fi
fi

# Everything whose change must trigger a reinstall.
hash_inputs() {
  cat "$CONSTRAINTS" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" "$ROOT"/tools/d2_build/*.py
  echo "skip_d2=${PEDET_SKIP_DETECTRON2:-0}"
}
WANT="$(hash_inputs | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && "$VENV/bin/python" -W ignore -c "import torch, torchvision, detectron2, pedet, opl, reploss" >/dev/null 2>&1; then
  echo "[setup] environment $VENV is up to date"
  exit 0
fi

t0=$(date +%s)
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating venv $VENV with $PEDET_PYTHON"
  "$PEDET_PYTHON" -m venv "$VENV"
fi
rm -f "$STAMP"

# torch first: the sdist's setup.py imports torch to produce its metadata. torch==2.14.1 exists only on PyPI
# (no local +cpu build), so a pip find-links folder holding torch 2.13.0+cpu is never chosen.
echo "[setup] torch + torchvision"
"${PIP[@]}" install -q -c "$CONSTRAINTS" torch torchvision setuptools pip

if [ "${PEDET_SKIP_DETECTRON2:-0}" != "1" ]; then
  have_d2="$("$VENV/bin/python" - <<'PY' 2>/dev/null || true
import importlib.metadata as m
try:
    d = m.distribution("pb1-detectron2")
    print("ours" if any(str(f).endswith("detectron2/_C.py") for f in d.files or []) else "other")
except m.PackageNotFoundError:
    print("none")
PY
)"
  # our wheel is rebuilt when it is missing or when its build inputs (setup.py patch, _C stand-in) changed
  D2_STAMP="$VENV/.pedet-d2-build-stamp"
  D2_WANT="$(cat "$ROOT"/tools/d2_build/*.py | sha256sum | cut -d' ' -f1)"
  if [ "$have_d2" != "ours" ] || [ ! -f "$D2_STAMP" ] || [ "$(cat "$D2_STAMP")" != "$D2_WANT" ]; then
    echo "[setup] building Detectron2 v0.6 (pb1-detectron2 sdist) as a pure-Python wheel"
    W="$(mktemp -d)"
    trap 'rm -rf "$W"' EXIT
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation -d "$W" pb1-detectron2==0.6
    tar -xzf "$W"/pb1-detectron2-0.6.tar.gz -C "$W"
    SRC="$W/pb1-detectron2-0.6"
    "$VENV/bin/python" "$ROOT/tools/d2_build/patch_setup.py" "$SRC"
    cp "$ROOT/tools/d2_build/_C_fallback.py" "$SRC/detectron2/_C.py"
    SOURCE_DATE_EPOCH=1635206400 "${PIP[@]}" wheel -q --no-deps --no-build-isolation -w "$W/wheels" "$SRC"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" --force-reinstall --no-deps "$W"/wheels/pb1_detectron2-0.6-py3-none-any.whl
    echo "$D2_WANT" > "$D2_STAMP"
  fi
  D2_REQ=(pb1-detectron2==0.6)
else
  D2_REQ=()
fi

echo "[setup] dependencies and the project (editable, with test extras)"
"${PIP[@]}" install -q -c "$CONSTRAINTS" "${D2_REQ[@]}" -e "$ROOT[test,export]"
"$VENV/bin/python" -W ignore -c "import torch, torchvision, detectron2, pedet, opl, reploss"
echo "$WANT" > "$STAMP"
echo "[setup] done in $(( $(date +%s) - t0 )) s: $VENV ($(du -sh "$VENV" | cut -f1))"
