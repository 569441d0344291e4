#!/usr/bin/env bash
# Installs everything the test suite needs and runs it: lint, types, and pytest with
# branch coverage (core/ must stay at 100%). Run from anywhere:  bash tests/run.sh
# Extra arguments go to pytest (for example: bash tests/run.sh tests/core -x).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

log "python packages"
python -m pip install --disable-pip-version-check -q -r requirements-dev.txt

log "debian packages: chromium for the end-to-end suite"
if ! command -v chromium >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version

if [ -f tests/e2e/package-lock.json ]; then
    log "npm packages: oidc-provider for the end-to-end suite"
    command -v node >/dev/null || { echo "node is required for tests/e2e" >&2; exit 1; }
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

for install in tests/e2e/servers/*/install.sh; do
    [ -f "$install" ] || continue
    log "authorization server: $(basename "$(dirname "$install")")"
    bash "$install"
done

log "ruff"
python -m ruff check .
python -m ruff format --check .

log "mypy --strict"
python -m mypy core/src adapters/src $(ls -d plugins/*/src 2>/dev/null) docs/plugin-example/src tests

log "pytest"
rm -f .coverage .coverage.*
python -m pytest --cov --cov-branch --cov-report= "$@"

log "coverage (core/ must be 100%)"
python -m coverage report --include='*/pkceflow_core/*' --fail-under=100
python -m coverage report --omit='*/pkceflow_core/*' || true
