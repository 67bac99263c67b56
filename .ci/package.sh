#!/usr/bin/env bash
# Build djws's distributions and install them the way docs/howto/install.rst says.
#
#   bash .ci/package.sh           # three to four minutes once pip's cache is warm
#
# 1. A copy of the checkout (the files git tracks or would add), where
#    `python -m build` (in a throwaway virtualenv with build and twine) makes the
#    sdist, then the wheel from the sdist, in its dist/; `twine check --strict`
#    checks both.
# 2. The wheel holds djws and nothing else: every file of the package (modules,
#    migrations, static files, templates, py.typed), no tests, sample_site, docs
#    or bench. Its metadata names the Python versions run in step 3 and the floors
#    pinned in .ci/floors.txt, no more and no fewer.
# 3. For each of Python 3.11, 3.12 and 3.13 ($PYTHON_VERSIONS): a clean virtualenv,
#    `pip install "djws[redis,postgresql,psycopg] @ file://.../djws-X-py3-none-any.whl"`,
#    then the tutorial's project (docs/tutorial/mysite), copied to a temporary
#    folder where the checkout's djws/ is not importable: its own tests
#    (`manage.py test chat`, as tests/toolkit/test_toolkit_tutorial.py runs them),
#    `migrate`, and `runwebsocket --http` answering a page, djws.js and a chat
#    message over a real WebSocket.
# 4. The other install of the how-to, `pip install "/path/to/djws[redis]"` from
#    that copy, with the tutorial's tests.
# 5. The oldest versions setup.cfg allows: the wheel installed with .ci/floors.txt
#    as constraints, the tutorial's tests and the parts of the suite that exercise
#    each of those dependencies (gunicorn, gevent, websockets, psycopg, psycogreen,
#    redis, djangorestframework), about 100 tests.
#
# Env: PYTHON (builds; default python3), PYTHON_VERSIONS (default "3.11 3.12 3.13",
# the classifiers of setup.cfg; each must be found, as pythonX.Y on the PATH or in
# pyenv's versions), PACKAGE_KEEP=1 keeps the temporary folder.
# Fails on the first problem, printing the log of the command that failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
read -r -a VERSIONS <<<"${PYTHON_VERSIONS:-3.11 3.12 3.13}"
FLOORS="$ROOT/.ci/floors.txt"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/djws-package.XXXXXX")"
SERVER_PID=""
STARTED=$(date +%s)

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${PACKAGE_KEEP:-}" = 1 ]; then echo "[package] kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { echo "[package] $*"; }
fail() { echo "[package] FAILED: $*" >&2; exit 1; }

# Run a command with its output in a log; print the log and stop if it fails.
quiet() {
  local log="$WORK/last.log"
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    fail "$*"
  fi
}

# A clean virtualenv (no system site-packages, nothing of the checkout) for $1 at $2.
clean_venv() {
  quiet "$1" -m venv "$2"
}

# The tutorial's project, copied out of the checkout, against the djws of venv $1.
tutorial_tests() {
  local venv="$1" label="$2" dir="$WORK/mysite-$2"
  cp -R "$CHECKOUT/docs/tutorial/mysite" "$dir"
  find "$dir" -name __pycache__ -prune -exec rm -rf {} + -o -name "*.sqlite3" -exec rm -f {} +
  # djws must come from the virtualenv: the checkout is nowhere on the path.
  (cd "$dir" && env -u DJANGO_SETTINGS_MODULE -u PYTHONPATH "$venv/bin/python" - "$venv" <<'EOF'
import pathlib
import sys

import djws

venv = pathlib.Path(sys.argv[1]).resolve()
package = pathlib.Path(djws.__file__).resolve().parent
if venv not in package.parents or "site-packages" not in package.parts:
    sys.exit(f"djws was imported from {package}, not from the virtualenv {venv}")
if not (package / "py.typed").is_file():
    sys.exit(f"{package} has no py.typed")
EOF
  ) || fail "$label: djws is not the installed one"
  if ! (cd "$dir" && env -u DJANGO_SETTINGS_MODULE -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 \
      "$venv/bin/python" manage.py test chat --noinput >"$WORK/test-$label.out" \
      2>"$WORK/test-$label.err"); then
    cat "$WORK/test-$label.out" "$WORK/test-$label.err" >&2
    fail "$label: the tutorial's tests failed"
  fi
  # The same verdict as tests/toolkit/test_toolkit_tutorial.py.
  if ! grep -q "^Ran 4 tests" "$WORK/test-$label.err" \
      || [ "$(tail -n 2 "$WORK/test-$label.err")" != $'OK\nDestroying test database for alias \'default\'...' ]; then
    cat "$WORK/test-$label.err" >&2
    fail "$label: the tutorial's tests did not end with 3 tests OK"
  fi
  say "$label: tutorial tests OK ($(grep '^Ran ' "$WORK/test-$label.err"))"
}

# The tutorial's "Run it" with the installed djws: migrate, runwebsocket --http.
tutorial_server() {
  local venv="$1" label="$2" dir="$WORK/mysite-$2" log="$WORK/server-$2.log" url=""
  quiet env -C "$dir" -u DJANGO_SETTINGS_MODULE -u PYTHONPATH \
    "$venv/bin/python" manage.py migrate --noinput -v0
  (cd "$dir" && exec env -u DJANGO_SETTINGS_MODULE -u PYTHONPATH PYTHONUNBUFFERED=1 \
    "$venv/bin/python" manage.py runwebsocket --http --noreload 127.0.0.1:0) >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    url="$(sed -n 's#.*Starting djws server at \(http://127\.0\.0\.1:[0-9][0-9]*\)/.*#\1#p' "$log" | head -n1)"
    [ -n "$url" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; fail "$label: runwebsocket exited"; }
    sleep 0.1
  done
  [ -n "$url" ] || { cat "$log" >&2; fail "$label: runwebsocket did not start in 30 s"; }
  if ! (cd "$WORK" && "$venv/bin/python" - "$url" <<'EOF'
import json
import sys
import urllib.request

from websockets.sync.client import connect

url = sys.argv[1]
with urllib.request.urlopen(f"{url}/chat/lobby/", timeout=10) as page:
    assert page.status == 200, page.status
    body = page.read().decode()
    assert "new WebSocket(" in body, body
with urllib.request.urlopen(f"{url}/static/djws/djws.js", timeout=10) as script:
    assert script.status == 200, script.status
    assert len(script.read()) > 1000
ws_url = url.replace("http://", "ws://") + "/chat/lobby/"
with connect(ws_url, origin=url, open_timeout=10) as ws:
    ws.send("hello from the wheel")
    reply = json.loads(ws.recv(timeout=10))
    assert reply == {"author": "anonymous", "text": "hello from the wheel"}, reply
EOF
  ); then
    cat "$log" >&2
    fail "$label: runwebsocket --http did not serve the tutorial"
  fi
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  if grep -q Traceback "$log"; then cat "$log" >&2; fail "$label: the server logged a traceback"; fi
  say "$label: runwebsocket --http served the page, djws.js and a chat message"
}

source "$ROOT/.ci/find_python.sh"
PYTHONS=()
for version in "${VERSIONS[@]}"; do
  PYTHONS+=("$(find_python "$version")") \
    || fail "no Python $version here, and setup.cfg's classifiers claim it (PYTHON_VERSIONS=...)"
done

# A checkout to build and install from, as docs/howto/install.rst does (the
# repository itself stays as it is: no dist/, build/ or egg-info written there).
CHECKOUT="$WORK/djws"
mkdir "$CHECKOUT"
git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "$ROOT is not a git checkout"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ ! -e "$f" ] || printf '%s\0' "$f"; done \
  | xargs -0 cp --parents -t "$CHECKOUT") || fail "could not copy the checkout"

say "building with $("$PYTHON" --version)"
clean_venv "$PYTHON" "$WORK/tools"
quiet "$WORK/tools/bin/pip" install -q build twine
quiet "$WORK/tools/bin/python" -m build "$CHECKOUT"
grep -q "^Successfully built djws-.*\.tar\.gz and djws-.*-py3-none-any\.whl$" "$WORK/last.log" \
  || { cat "$WORK/last.log" >&2; fail "python -m build did not say it built both"; }
# setuptools' warnings (a data folder outside `packages`, a deprecated option) are failures.
if grep -E "^(WARNING|.*SetuptoolsDeprecationWarning|.*Package would be ignored)" "$WORK/last.log" \
    | grep -v "^WARNING: Location '" | grep -q .; then
  cat "$WORK/last.log" >&2
  fail "python -m build printed warnings"
fi
shopt -s nullglob
sdists=("$CHECKOUT"/dist/djws-*.tar.gz)
wheels=("$CHECKOUT"/dist/djws-*-py3-none-any.whl)
shopt -u nullglob
[ ${#sdists[@]} = 1 ] && [ ${#wheels[@]} = 1 ] \
  || fail "expected one sdist and one wheel in dist/: $(ls "$CHECKOUT/dist")"
SDIST="${sdists[0]}"
WHEEL="${wheels[0]}"
say "built $(basename "$SDIST") and $(basename "$WHEEL")"
quiet "$WORK/tools/bin/twine" check --strict "$SDIST" "$WHEEL"
say "twine check --strict: both PASSED"

# What the distributions hold, and what the wheel's metadata promises.
"$WORK/tools/bin/python" - "$CHECKOUT" "$SDIST" "$WHEEL" "$FLOORS" "${VERSIONS[@]}" <<'EOF' \
  || fail "the distributions, setup.cfg, .ci/floors.txt and docs/howto/install.rst disagree"
import os
import re
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

root, sdist, wheel, floors = map(Path, sys.argv[1:5])
pythons = set(sys.argv[5:])
problems = []

with zipfile.ZipFile(wheel) as zf:
    names = set(zf.namelist())
    dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    metadata = Parser().parsestr(zf.read(f"{dist_info}/METADATA").decode())
tops = {n.split("/")[0] for n in names}
if tops != {"djws", dist_info}:
    problems.append(f"the wheel has top-level entries besides djws/: {sorted(tops - {'djws', dist_info})}")
for forbidden in ("tests/", "sample_site/", "docs/", "bench/", "djws/tests/"):
    problems += [f"the wheel ships {n}" for n in sorted(names) if n.startswith(forbidden)]
problems += [f"the wheel ships {n}" for n in sorted(names) if "__pycache__" in n or n.endswith(".pyc")]
required = [
    "djws/__init__.py",
    "djws/py.typed",
    "djws/static/djws/djws.js",
    "djws/templatetags/websockets.py",
    "djws/contrib/chat/migrations/0001_initial.py",
    "djws/management/commands/runwebsocket.py",
]
problems += [f"the wheel lacks {n}" for n in required if n not in names]
if not {f"{dist_info}/licenses/LICENSE", f"{dist_info}/LICENSE"} & names:
    problems.append("the wheel lacks the LICENSE")
# Every file of the package in the checkout (templates and static files included).
for folder, dirs, files in os.walk(root / "djws"):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in files:
        if name.endswith((".pyc", ".pyo")):
            continue
        path = (Path(folder) / name).relative_to(root).as_posix()
        if path not in names:
            problems.append(f"the wheel lacks {path}")

with tarfile.open(sdist) as tf:
    members = {m.name.split("/", 1)[1] for m in tf.getmembers() if "/" in m.name}
for name in ("PKG-INFO", "setup.cfg", "pyproject.toml", "README.md", "LICENSE",
             "djws/py.typed", "djws/static/djws/djws.js"):
    if name not in members:
        problems.append(f"the sdist lacks {name}")

classified = {
    c.rsplit("::", 1)[1].strip()
    for c in metadata.get_all("Classifier")
    if c.startswith("Programming Language :: Python :: 3.")
}
if classified != pythons:
    problems.append(f"classifiers name Python {sorted(classified)}; this step runs {sorted(pythons)}")

pins = {}
for line in floors.read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        req = Requirement(line)
        (spec,) = req.specifier
        pins[req.name.lower()] = spec.version
floors_found = {}
for line in metadata.get_all("Requires-Dist"):
    req = Requirement(line)
    extra = req.marker and str(req.marker)
    if extra and any(e in extra for e in ('"tests"', '"docs"')):
        continue  # developer tools: runtests.sh and docs.sh take the newest
    for spec in req.specifier:
        if spec.operator == ">=":
            floors_found[req.name.lower()] = spec.version
for name in sorted(floors_found.keys() | pins.keys()):
    if floors_found.get(name) != pins.get(name):
        problems.append(
            f"{name}: setup.cfg's floor is {floors_found.get(name)}, "
            f".ci/floors.txt pins {pins.get(name)}"
        )
# The how-to's table of tested versions, and the wheel every page names.
howto = (root / "docs" / "howto" / "install.rst").read_text()
for name, pinned in sorted(pins.items()):
    if not re.search(rf"^{re.escape(name)} +{re.escape(pinned)}$", howto, re.M | re.I):
        problems.append(f"docs/howto/install.rst's table does not list {name} {pinned}")
pages = [root / "README.md", *sorted((root / "docs").rglob("*.rst"))]
for page in pages:
    for named in sorted(set(re.findall(r"djws-[0-9][^ \"/]*?\.(?:whl|tar\.gz)", page.read_text()))):
        if named not in (wheel.name, sdist.name):
            problems.append(f"{page.relative_to(root)} names {named}; the build made {wheel.name}")
if wheel.name not in howto:
    problems.append(f"docs/howto/install.rst does not name {wheel.name}")

for problem in problems:
    print(f"  {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
say "the wheel holds djws and only djws; classifiers and floors match what runs here"

for i in "${!PYTHONS[@]}"; do
  py="${PYTHONS[$i]}" label="py${VERSIONS[$i]}"
  clean_venv "$py" "$WORK/venv-$label"
  quiet "$WORK/venv-$label/bin/pip" install -q "djws[redis,postgresql,psycopg] @ file://$WHEEL"
  "$WORK/venv-$label/bin/python" -c "import redis, psycopg, psycopg2" \
    || fail "$label: the extras did not install their drivers"
  say "$label: installed $(basename "$WHEEL") with [redis,postgresql,psycopg] ($("$WORK/venv-$label/bin/python" --version))"
  tutorial_tests "$WORK/venv-$label" "$label"
  tutorial_server "$WORK/venv-$label" "$label"
done

# From the checkout, not editable.
clean_venv "${PYTHONS[0]}" "$WORK/venv-checkout"
quiet "$WORK/venv-checkout/bin/pip" install -q "$CHECKOUT[redis]"
"$WORK/venv-checkout/bin/python" -c "import redis" || fail "checkout: [redis] did not install redis"
say "checkout: installed $CHECKOUT[redis]"
tutorial_tests "$WORK/venv-checkout" checkout

# The floors: every dependency at the oldest version setup.cfg allows.
clean_venv "${PYTHONS[0]}" "$WORK/venv-floors"
quiet "$WORK/venv-floors/bin/pip" install -q -c "$FLOORS" \
  "djws[redis,postgresql,psycopg,metrics,drf] @ file://$WHEEL" djangorestframework-simplejwt \
  pytest pytest-django pytest-timeout
"$WORK/venv-floors/bin/python" - "$FLOORS" <<'EOF' || fail "the floors were not installed"
import sys
from importlib.metadata import version

bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if line:
        name, pinned = line.split("==")
        if version(name) != pinned:
            bad.append(f"{name} {version(name)} instead of {pinned}")
if bad:
    sys.exit("\n".join(bad))
EOF
say "floors: installed $(grep -v '^#' "$FLOORS" | grep . | tr '\n' ' ')"
tutorial_tests "$WORK/venv-floors" floors
# The suite imports the checkout's djws (pytest puts the repository on sys.path):
# the same code as the wheel, here run against the oldest dependencies.
quiet env -C "$ROOT" "$WORK/venv-floors/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_core_command.py tests/test_core_views.py tests/test_core_database.py \
  tests/test_protocol_handshake.py tests/test_protocol_negotiation.py \
  tests/test_broadcast_unit.py tests/test_broadcast_redis.py tests/test_broadcast_postgres.py \
  tests/test_delivery_redis.py tests/test_metrics.py tests/test_toolkit.py \
  tests/test_auth_drf.py
say "floors: $(grep -E '^[0-9]+ passed' "$WORK/last.log")"

say "all checks passed in $(( $(date +%s) - STARTED )) s"
