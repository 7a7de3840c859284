#!/usr/bin/env bash
# Make sure Debian's headless-capable `chromium` is installed (used by the report tests to
# render report.html offline and take a screenshot). Idempotent: does nothing when a
# chromium binary is already on PATH. Needs root (or sudo) and Debian's package mirror.
#
#   scripts/ensure-chromium.sh          # install if missing, print the binary's path
#
# Exit status: 0 when chromium is available afterwards, 1 otherwise (with the reason).
set -euo pipefail

find_chromium() {
    local name
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if path=$(find_chromium); then
    echo "$path"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: chromium is missing and this is not root (and no sudo);" \
             "install Debian's 'chromium' package by hand" >&2
        exit 1
    fi
fi

# Another apt/dpkg may be running (other setup scripts): wait for its lock rather than fail.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get "${APT_OPTS[@]}" update -qq
$SUDO apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null

if path=$(find_chromium); then
    echo "$path"
    exit 0
fi
echo "ensure-chromium: apt-get finished but no chromium binary is on PATH" >&2
exit 1
