#!/usr/bin/env bash
# README command 1: set up the environment (idempotent), then train + evaluate the tiny OPL model on the synthetic
# crowd set on CPU and write a report folder (its path is printed at the end). Arguments go to tools/main_job.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "${PEDET_VENV:-$ROOT/.venv}/bin/python" -W ignore::FutureWarning -W ignore::DeprecationWarning \
  tools/main_job.py "$@"
