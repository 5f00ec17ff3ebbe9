# Sourced by the scripts here: make ./.venv (Python >= 3.11) with infra_chains installed, at the
# versions in constraints.txt (the ones the tests last passed with; scripts/lock refreshes them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" - <<'PY' || { echo "infra_chains needs Python >= 3.11 (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2; exit 1; }
import sys; sys.exit(sys.version_info < (3, 11))
PY
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv || { echo "python3 -m venv failed: install the venv module (apt-get install -y python3-venv)" >&2; exit 1; }
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
if [ -n "${EXTRAS:-}" ]; then spec=".[$EXTRAS]"; else spec="."; fi
.venv/bin/python -m pip install --quiet -c constraints.txt -e "$spec"
