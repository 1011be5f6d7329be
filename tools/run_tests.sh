#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs whatever is missing
# (tools/install.sh, idempotent) and runs the test suite on CPU.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMAIMS_VENV:-$REPO/.venv}"
bash "$REPO/tools/install.sh"
cd "$REPO"
exec "$VENV/bin/python" -m pytest tests "$@"
