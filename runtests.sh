#!/usr/bin/env bash
# Run djws's test suite against real servers, PostgreSQL, Redis, nginx and Chromium.
#
#   ./runtests.sh                 # everything (pytest: 11 to 15 minutes on 2 cores)
#   ./runtests.sh tests/test_core_views.py -k echo    # arguments go to pytest
#   ./runtests.sh --fast          # the fast tier (pytest: about 25 s on 2 cores)
#
# --fast runs the tests marked fast, minus postgres, redis and browser ones: unit
# tests, and the test project's views in-process with djws.test's client. It
# needs no service, starts no server process and runs no manage.py (tests/conftest.py
# fails a fast test that does), so it checks for neither the services nor the
# Debian packages; the virtualenv, ruff and mypy come first as for a full run.
#
# Creates .venv (or $VENV, with $PYTHON) with djws and its test dependencies
# (Django as $DJANGO says, a pip requirement such as "~=6.1.0"; else the newest
# that $PYTHON can run), installs the
# Debian packages the browser and nginx tests drive (and npm, which installs
# axe-core for the accessibility audit) when run as root, and fails -- never
# skips -- when PostgreSQL (127.0.0.1:5432), Redis (127.0.0.1:6379) or RabbitMQ
# (127.0.0.1:5672) is not running. Before the tests: ruff (lint and format) and mypy --strict.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
FAST=0
if [ "${1:-}" = "--fast" ]; then
  FAST=1
  shift
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[tests]" \
  ${DJANGO:+"django$DJANGO"}

# The Debian packages the browser and nginx tests drive, and the services.
needs_system() {
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  # The Redis topology tests start their own servers, sentinels and clusters.
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  # npm installs axe-core, pinned by tests/npm/package-lock.json, for the accessibility audit.
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "error: the tests need these Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
      exit 1
    fi
  fi

  service_up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
  if ! service_up 127.0.0.1 5432; then
    echo "error: PostgreSQL is not running on 127.0.0.1:5432 (trust auth, database 'test')." >&2
    echo "       start it: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    exit 1
  fi
  if ! service_up 127.0.0.1 6379; then
    echo "error: Redis is not running on 127.0.0.1:6379." >&2
    echo "       start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no" >&2
    exit 1
  fi
  if ! service_up 127.0.0.1 5672; then
    echo "error: RabbitMQ is not running on 127.0.0.1:5672 (guest/guest): the Celery test's broker." >&2
    echo "       start it: rabbitmq-server -detached" >&2
    exit 1
  fi
}

if [ "$FAST" = 0 ]; then
  needs_system
fi

"$VENV/bin/ruff" check djws tests sample_site bench docs/screenshots.py
"$VENV/bin/ruff" format --check djws tests sample_site bench docs/screenshots.py
MYPYPATH=tests/project "$VENV/bin/mypy"
if [ "$FAST" = 1 ]; then
  exec "$VENV/bin/python" -m pytest -m "fast and not postgres and not redis and not browser" "$@"
fi
exec "$VENV/bin/python" -m pytest "$@"
