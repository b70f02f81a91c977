# Sourced by scripts/run and scripts/test: a virtualenv in .venv with exactly the locked packages.
# Re-installs only when the lock file changed since the last install.
set -euo pipefail

bootstrap_venv() {
  local lock="$1"
  local python="${PYTHON:-python3}"
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)." >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$lock")"
  local digest
  digest=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    echo "Installing locked dependencies from $lock ..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$lock"
    echo "$digest" > "$stamp"
  fi
}
