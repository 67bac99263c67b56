#!/bin/sh
# Start the djws playground on http://127.0.0.1:8000/ with one command, from anywhere:
#
#   sh sample_site/run.sh            (or: sh sample_site/run.sh 0.0.0.0:8000)
#
# It creates .venv at the top of the repository (unless one is active or exists),
# installs djws into it, creates the SQLite database and serves pages and
# WebSockets on one port with `runwebsocket --http`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
if [ -n "${VIRTUAL_ENV:-}" ]; then
    python="$VIRTUAL_ENV/bin/python"
else
    python="$repo/.venv/bin/python"
    if [ ! -x "$python" ]; then
        python3 -m venv "$repo/.venv"
    fi
fi
# Checked from / so the source tree in the current directory cannot pass for an install.
(cd / && "$python" -c "import django, djws") 2>/dev/null || "$python" -m pip install -q -e "$repo"
cd "$here"
"$python" manage.py migrate --noinput -v0
exec "$python" manage.py runwebsocket --http "${1:-8000}"
