#!/bin/sh
# Build the documentation with Sphinx, failing on any warning.
#
#   sh .ci/docs.sh            (from anywhere; uses $PYTHON, else python3)
#
# Installs the docs extra (Sphinx, furo) and djws itself when they are missing.
set -eu
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
if ! "$python" -c "import sphinx, furo, djws, rest_framework" 2>/dev/null; then
    "$python" -m pip install -q -e ".[docs]"
fi
rm -rf docs/_build/html
"$python" -m sphinx -W --keep-going -b html docs docs/_build/html
