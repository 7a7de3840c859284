#!/usr/bin/env bash
# Make sure a Docker engine answers, and that the host tools the image builds need are there.
#
# - `docker info` answers: done (as root, missing build tools are still installed).
# - No engine, as root: install Debian's docker.io, iptables and debootstrap with apt-get
#   when missing, start dockerd in the background (no systemd needed; log in
#   $FLOODMARK_DOCKERD_LOG, default /var/log/floodmark-dockerd.log) and wait up to
#   $FLOODMARK_DOCKERD_WAIT seconds (default 60) for it to answer.
# - No engine, not root: stop with a message saying what to do.
# Idempotent: running it again changes nothing once an engine answers.
set -euo pipefail

log=${FLOODMARK_DOCKERD_LOG:-/var/log/floodmark-dockerd.log}
wait_s=${FLOODMARK_DOCKERD_WAIT:-60}

say() { printf 'ensure-docker: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

apt_updated=0
apt_install() { # apt_install PACKAGE... (only the ones whose command is missing are passed)
    [ "$#" -gt 0 ] || return 0
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing_tools() { # the Debian packages of the build tools that are missing
    local pkgs=()
    command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
    command -v iptables >/dev/null 2>&1 || pkgs+=(iptables)
    echo "${pkgs[@]+"${pkgs[@]}"}"
}

is_root() { [ "$(id -u)" = 0 ]; }

if engine_answers; then
    if is_root && command -v apt-get >/dev/null 2>&1; then
        # shellcheck disable=SC2046
        apt_install $(missing_tools)
    fi
    exit 0
fi

if ! is_root; then
    say "no Docker engine answers (docker info failed) and this is not root."
    say "what to do: start Docker (e.g. 'sudo systemctl start docker' or 'sudo dockerd &'),"
    say "or run 'sudo make docker' to install Debian's docker.io and start dockerd,"
    say "or add yourself to the docker group if the engine runs but refuses you."
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "no Docker engine answers and this machine has no apt-get: install Docker yourself."
    exit 1
fi

pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
# /usr/local/bin/docker (a newer client) may shadow Debian's /usr/bin/docker: both talk to
# the same socket, so any client will do.
command -v docker >/dev/null 2>&1 || pkgs+=(docker.io)
read -r -a tools <<<"$(missing_tools)"
pkgs+=("${tools[@]+"${tools[@]}"}")
# shellcheck disable=SC2046
apt_install $(printf '%s\n' "${pkgs[@]+"${pkgs[@]}"}" | sort -u)

# A dockerd may be starting already (pid file present, process alive): wait for it
# rather than start a second one.
pidfile=${FLOODMARK_DOCKERD_PIDFILE:-/var/run/docker.pid}
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "dockerd (pid $(cat "$pidfile")) is running; waiting for it to answer"
else
    mkdir -p "$(dirname "$log")"
    say "starting dockerd (log: $log)"
    nohup dockerd >>"$log" 2>&1 </dev/null &
    disown || true
fi

deadline=$((SECONDS + wait_s))
until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "dockerd did not answer within ${wait_s} s; last lines of $log:"
        tail -n 20 "$log" >&2 || true
        say "what to do: read $log (cgroups, storage driver and iptables are the usual causes)"
        exit 1
    fi
    sleep 0.5
done
say "Docker engine is up ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
