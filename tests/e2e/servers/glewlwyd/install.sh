#!/usr/bin/env bash
# Installs Debian's glewlwyd (2.7.5 on Debian 12) and sqlite3 for the end-to-end suite.
# Idempotent: a second run only checks that both are there (well under a second).
# The package must not leave a system service behind: apt-get runs under a policy-rc.d
# that forbids every service start (exit 101), put in place only for the install when the
# machine has none of its own, and the glewlwyd unit/init script is disabled afterwards.
# The tests start glewlwyd themselves, in the foreground, with a config of their own.
set -euo pipefail

have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if have glewlwyd && have sqlite3; then
    echo "glewlwyd $(dpkg-query -W -f='${Version}' glewlwyd) already installed"
    exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    made_policy=1
fi
cleanup() { if [ "$made_policy" -eq 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

if ! apt-cache show glewlwyd >/dev/null 2>&1; then
    $sudo apt-get update -qq
fi
if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    glewlwyd sqlite3 >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        glewlwyd sqlite3 >/dev/null
fi

# Never run as a system service on a test machine (no-ops where systemd is not running).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now glewlwyd.service >/dev/null 2>&1 || true
fi
if [ -x /etc/init.d/glewlwyd ] && command -v update-rc.d >/dev/null 2>&1; then
    $sudo update-rc.d glewlwyd disable >/dev/null 2>&1 || true
fi

echo "glewlwyd $(dpkg-query -W -f='${Version}' glewlwyd) installed"
