#!/usr/bin/env bash
# Create the virtualenv (when missing) and install floodmark into it, editable, with its
# dev and kafka extras. The Makefile runs this only when pyproject.toml changed.
#
# usage: scripts/ensure-venv.sh VENV_DIR [PYTHON]
set -euo pipefail
venv=${1:?usage: ensure-venv.sh VENV_DIR [PYTHON]}
python=${2:-python3}

say() { printf 'ensure-venv: %s\n' "$*" >&2; }

if ! command -v "$python" >/dev/null 2>&1; then
    say "no $python found; install Python 3.11 or newer (Debian: apt-get install python3 python3-venv)"
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    say "$python is $("$python" -V 2>&1); floodmark needs Python 3.11 or newer (PYTHON=... picks another)"
    exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    say "creating $venv with $python ($("$python" -V 2>&1))"
    if ! "$python" -m venv --clear "$venv" 2>/dev/null; then
        # Debian's python3 ships venv's ensurepip separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing python3-venv"
            DEBIAN_FRONTEND=noninteractive apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$python" -m venv --clear "$venv"
        else
            say "'$python -m venv' failed; install python3-venv (as root: apt-get install python3-venv)"
            exit 1
        fi
    fi
fi
say "installing floodmark (editable, extras dev and kafka) into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev,kafka]'
