#!/bin/sh
# One command for the djws benchmarks: sets up bench/.venvs/ and runs every scenario
# against djws, raw gevent-websocket, Channels+Daphne and Channels+uvicorn.
#   bench/run.sh            3 repetitions (default)
#   bench/run.sh --quick    1 short repetition (smoke test)
#   bench/run.sh --help     every option
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
exec "$PYTHON" bench/run.py "$@"
