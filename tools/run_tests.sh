#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs whatever is missing
# (tools/install.sh, idempotent) and runs the test suite on CPU.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMAIMS_VENV:-$REPO/.venv}"
bash "$REPO/tools/install.sh"
# the page's browser test drives Debian's chromium through chromium-driver
# (tests/test_demo/test_webui_browser.py); MMAIMS_SKIP_BROWSER_TESTS=1
# skips both this install and that test
if [ "${MMAIMS_SKIP_BROWSER_TESTS:-0}" != 1 ] && \
    ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  SUDO=()
  [ "$(id -u)" = 0 ] || SUDO=(sudo -n)
  echo "[tests] installing chromium and chromium-driver (apt)"
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq \
    chromium chromium-driver
fi
cd "$REPO"
exec "$VENV/bin/python" -m pytest tests "$@"
