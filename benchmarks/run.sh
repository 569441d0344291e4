#!/usr/bin/env bash
# Run every benchmark and print one markdown table: bash benchmarks/run.sh [--quick] [--profile]
#
# Makes (or reuses) a virtualenv of its own, outside the repository: $BENCH_VENV, by
# default /tmp/bench-venv. pkceflow is installed from ./core and ./adapters of this
# tree (non-editable, reinstalled on every run so the numbers are of this tree), and
# the peers from PyPI. The report also goes to benchmarks/latest.md (not committed).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
venv="${BENCH_VENV:-/tmp/bench-venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install \
    "$root/core" "$root/adapters" \
    "authlib>=1.3" "requests>=2.31" "httpx>=0.27" \
    "oauthlib>=3.2" "requests-oauthlib>=1.3" \
    "google-auth-oauthlib>=1.2" "msal>=1.28" \
    "pyinstrument>=4.6"
# This tree's pkceflow, even when the version number did not change.
"${pip[@]}" install --force-reinstall --no-deps "$root/core" "$root/adapters"
# setuptools' distutils-precedence.pth would run at every interpreter start, in the
# baseline too; without it `python -c pass` is the bare interpreter.
"${pip[@]}" uninstall -y setuptools >/dev/null 2>&1 || true

cd "$root"
exec "$venv/bin/python" -m benchmarks.run --out "$here/latest.md" "$@"
