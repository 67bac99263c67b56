#!/bin/sh
# Start the djws playground on http://127.0.0.1:8000/ with one command, from anywhere:
#
#   sh sample_site/run.sh            (or: sh sample_site/run.sh 0.0.0.0:8000)
#
# It creates .venv at the top of the repository (unless one is active or exists),
# installs djws into it, installs the live pages' htmx and Turbo from npm (pinned
# by package-lock.json; npm itself with apt-get when run as root on Debian or
# Ubuntu), creates the SQLite database and serves pages and WebSockets on one
# port with `runwebsocket --http`.
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
# npm ci again only when the lock file changed since the last install.
if ! cmp -s "$here/package-lock.json" "$here/node_modules/.djws-package-lock.json"; then
    if ! command -v npm >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get install -y -q npm >/dev/null || { apt-get update -q && apt-get install -y -q npm; }
        else
            echo "run.sh: npm is needed for the live pages' htmx and Turbo: install it (apt-get install npm)" >&2
            exit 1
        fi
    fi
    npm ci --no-audit --no-fund --ignore-scripts --silent --prefix "$here"
    cp "$here/package-lock.json" "$here/node_modules/.djws-package-lock.json"
fi
cd "$here"
"$python" manage.py migrate --noinput -v0
exec "$python" manage.py runwebsocket --http "${1:-8000}"
