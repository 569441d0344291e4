#!/usr/bin/env bash
# Installs Django OAuth Toolkit (requirements.txt, every version pinned) into a virtual
# environment of its own, tests/e2e/.e2e-cache/dot-venv, so its dependencies never mix with
# pkceflow's. Wheels are cached in tests/e2e/.e2e-cache/pip. Idempotent: when the venv was
# built from the same requirements.txt and still imports, it exits within a second.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$(cd "$here/../.." && pwd)/.e2e-cache"
venv="$cache/dot-venv"
stamp="$venv/.requirements.txt"
requirements="$here/requirements.txt"
python="${DOT_PYTHON:-python3}"

check() {
    "$venv/bin/python" - <<'PY'
import importlib.metadata as m
import django, oauth2_provider, cryptography  # noqa: F401
print("django-oauth-toolkit", m.version("django-oauth-toolkit"), "on Django", m.version("Django"))
PY
}

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" \
    && check 2>/dev/null; then
    exit 0
fi

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null; then
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
    fi
}

mkdir -p "$cache"
rm -rf "$venv"
# Debian's python3 makes virtual environments only with python3-venv installed.
if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
    rm -rf "$venv"
    apt_install python3-venv
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --cache-dir "$cache/pip" -r "$requirements"
cp "$requirements" "$stamp"
check
