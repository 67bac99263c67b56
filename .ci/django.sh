#!/usr/bin/env bash
# djws on the newest Django too: Django 6.1 on Python 3.13, in a virtualenv of its own.
# The README's ./runtests.sh, on the machine's python3 (3.11), runs the whole suite
# on Django 5.2 LTS; .ci/package.sh installs the wheel under 3.12 and 3.13 (Django
# 6.1, the newest they take) and runs the tutorial's tests and server there.
#
# Here: ruff, mypy and the fast tier (every unit test, and the test project's views
# in-process through djws.test's client: the checks, middleware, sessions, auth,
# forms, template tags), then the server tests of what djws takes from Django
# itself: its management command and system checks, its autoreloader, its WSGI
# handler and request cycle over real sockets, and sessions ending. The transport,
# the broadcast backends and the browser pages do not depend on Django's version
# and run once, in the main suite.
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/find_python.sh
python313="$(find_python 3.13)" || {
  echo "error: Python 3.13 is needed for the Django 6.1 run, and was not found" >&2
  exit 1
}

echo "== Django 6.1, Python 3.13: lint, types and the fast tier"
PYTHON="$python313" VENV=.venv-3.13 DJANGO="~=6.1.0" ./runtests.sh --fast -q -p no:cacheprovider
echo "== Django 6.1, Python 3.13: the server tests of what djws takes from Django"
.venv-3.13/bin/python -c "import django; assert django.VERSION[:2] == (6, 1), django.VERSION"
.venv-3.13/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_core_command.py tests/test_core_autoreload.py tests/test_core_views.py \
  tests/test_core_http.py tests/test_core_http_mode.py tests/test_core_accept.py \
  tests/test_core_mistakes.py tests/test_sessions_end.py tests/test_templatetags.py
