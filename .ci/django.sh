#!/usr/bin/env bash
# The suite on the newest Django too: 6.1 on Python 3.12 (everything) and 3.13 (the
# fast tier), each in a virtualenv of its own. The README's ./runtests.sh, on the
# machine's python3 (3.11), runs Django 5.2 LTS.
set -euo pipefail
cd "$(dirname "$0")/.."

python_for() {
  command -v "python$1" 2>/dev/null && return
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python; do
    [ -x "$candidate" ] && { echo "$candidate"; return; }
  done
  echo "error: Python $1 is needed for the Django 6.1 run, and was not found" >&2
  exit 1
}

echo "== Django 6.1, Python 3.12: the whole suite"
PYTHON="$(python_for 3.12)" VENV=.venv-3.12 DJANGO="~=6.1.0" ./runtests.sh
echo "== Django 6.1, Python 3.13: the fast tier"
PYTHON="$(python_for 3.13)" VENV=.venv-3.13 DJANGO="~=6.1.0" ./runtests.sh --fast
