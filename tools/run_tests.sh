#!/usr/bin/env bash
# The README's test command: set up the environment (idempotent), then run the whole test suite on CPU.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh tests/pedet -k crowdhuman`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
VENV="${PEDET_VENV:-$ROOT/.venv}"
cd "$ROOT"
# Two pytest workers on the two cores, one thread each (oversubscription makes torch 3-5x slower here).
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
if [ "$#" -eq 0 ]; then set -- tests; fi
exec "$VENV/bin/python" -m pytest -n "${PEDET_TEST_WORKERS:-2}" "$@"
