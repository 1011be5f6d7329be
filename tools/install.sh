#!/usr/bin/env bash
# Idempotent set-up of the mmaims stack (see docs in README.md).
#
#   bash tools/install.sh            # creates/updates ./.venv
#   MMAIMS_VENV=/path/venv bash tools/install.sh
#
# Installs torch 2.13.0 (CPU wheel from the local find-links folder), builds
# mmcv 2.1.0 with its C++/CUDA ops from source, installs mmengine 0.10.7,
# mmdet 3.3.0, pycocotools, the runtime, test, demo (Gradio page, Selenium)
# and deployment (onnx, onnxruntime) requirements, and mmaims in
# editable mode. Whatever is already installed at the right version is
# skipped, so a second run takes seconds.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMAIMS_VENV:-$REPO/.venv}"
PYTHON_BIN="${PYTHON:-$(command -v python3.11 || command -v python3)}"

log() { echo "[install] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV with $PYTHON_BIN"
  "$PYTHON_BIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

# prints each requirement that is not satisfied by what is installed
missing() {
  "$PY" - "$@" <<'PYEOF'
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    try:
        installed = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        print(spec)
        continue
    if not req.specifier.contains(installed.split('+')[0], prereleases=True):
        print(spec)
PYEOF
}

step() {  # step "description" pip-args... ; runs pip only for missing specs
  local desc="$1"; shift
  local todo
  todo=$(missing "$@")
  if [ -z "$todo" ]; then
    log "$desc: already installed"
  else
    log "$desc: installing $(echo $todo)"
    mapfile -t todo_list <<< "$todo"
    "${PIP[@]}" install "${todo_list[@]}"
  fi
}

# 1. build tools and torch. Only `torch==2.13.0` takes the local CPU wheel;
#    any looser spec makes pip fetch several GB of CUDA wheels.
step "build tools" "setuptools>=77.0.3,<81" wheel ninja
step "torch" torch==2.13.0

# 2. mmcv with ops. Its setup imports torch and pkg_resources, hence no
#    build isolation and setuptools < 81. pip caches the built wheel.
if [ -n "$(missing mmcv==2.1.0)" ] || ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
  log "mmcv 2.1.0: building with ops (about 11 minutes on 2 cores the first time)"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-2}" "${PIP[@]}" install \
    --no-build-isolation mmcv==2.1.0
else
  log "mmcv 2.1.0 with ops: already installed"
fi

# 3. the rest of the OpenMMLab stack, runtime and test requirements, and
#    the page's and the ONNX export's (their tests are in the suite)
step "mmengine, mmdet" mmengine==0.10.7 mmdet==3.3.0
mapfile -t REQS < <(grep -hv '^\s*#' "$REPO/requirements/runtime.txt" "$REPO/requirements/tests.txt" "$REPO/requirements/demo.txt" "$REPO/requirements/deploy.txt" | sed 's/\s*#.*//' | grep -v '^\s*$')
step "runtime, test, demo and deployment requirements" "${REQS[@]}"

# 4. mmaims itself, editable, with configs/ and tools/ linked under .mim
if "$PY" - "$REPO" <<'PYEOF'
import os.path as osp, sys
repo = sys.argv[1]
try:
    import mmaims
except Exception:
    sys.exit(1)
ok = osp.dirname(osp.dirname(osp.abspath(mmaims.__file__))) == repo \
    and osp.isdir(osp.join(repo, 'mmaims', '.mim', 'configs'))
sys.exit(0 if ok else 1)
PYEOF
then
  log "mmaims (editable): already installed"
else
  log "mmaims: installing in editable mode"
  "${PIP[@]}" install --no-build-isolation --no-deps -e "$REPO"
fi

log "ready: $PY"
