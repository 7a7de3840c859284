#!/bin/sh
# Entrypoint of every node image (replog, kafka): prepares the fault layers a run asked
# for, then runs the node's command (which becomes pid 1 through exec).
#
#   FLOODMARK_LAZYFS=1     mount the lazyfs FUSE layer (agent/lazyfs.py) over
#                          FLOODMARK_DATA_DIR (default /data): the volume is bind-mounted
#                          to /var/lib/floodmark/backing and un-fsynced writes are held
#                          in memory until fsync (lose-unfsynced fault). Needs
#                          --device /dev/fuse --cap-add SYS_ADMIN.
#   FLOODMARK_FAKETIME=1   preload libfaketime into the node, driven by the file
#                          /run/floodmark/faketime (agent/clock.py writes it; clock fault).
set -eu
AGENT=/opt/floodmark/agent
mkdir -p /run/floodmark

if [ "${FLOODMARK_LAZYFS:-0}" = 1 ]; then
    data="${FLOODMARK_DATA_DIR:-/data}"
    backing=/var/lib/floodmark/backing
    mkdir -p "$data" "$backing"
    if ! grep -q " $data fuse" /proc/mounts; then
        mount --bind "$data" "$backing"
        python3 "$AGENT/lazyfs.py" mount --backing "$backing" --mountpoint "$data" \
            --socket /run/floodmark/lazyfs.sock >/run/floodmark/lazyfs.log 2>&1 &
        echo $! >/run/floodmark/lazyfs.pid
        tries=0
        until grep -q " $data fuse" /proc/mounts && [ -S /run/floodmark/lazyfs.sock ]; do
            tries=$((tries + 1))
            if [ "$tries" -gt 200 ] || ! kill -0 "$(cat /run/floodmark/lazyfs.pid)" 2>/dev/null; then
                echo "floodmark entrypoint: lazyfs did not mount $data within 10 s;" \
                    "is /dev/fuse passed and SYS_ADMIN granted? log:" >&2
                cat /run/floodmark/lazyfs.log >&2
                exit 1
            fi
            sleep 0.05
        done
    fi
fi

if [ "${FLOODMARK_FAKETIME:-0}" = 1 ]; then
    lib=""
    for candidate in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
        if [ -e "$candidate" ]; then lib="$candidate"; break; fi
    done
    if [ -z "$lib" ]; then
        echo "floodmark entrypoint: FLOODMARK_FAKETIME=1 but libfaketime is not installed" \
            "in this image (install Debian's libfaketime)" >&2
        exit 1
    fi
    # Keep an offset that survives a restart (a kill during a clock fault); start at 0.
    [ -s /run/floodmark/faketime ] || echo "+0" >/run/floodmark/faketime
    export LD_PRELOAD="$lib"
    export FAKETIME_TIMESTAMP_FILE=/run/floodmark/faketime
    export FAKETIME_CACHE_DURATION=1
    export FAKETIME_DONT_FAKE_MONOTONIC=1
    # libfaketime 0.9.10 turns its "monotonic fix" on by itself for this glibc; with
    # monotonic time left real, that fix makes pthread_cond_timedwait on a CLOCK_MONOTONIC
    # condvar return early, so the JVM's Thread.sleep/park spin (Kafka: 100% CPU, a
    # broker takes minutes to start). Measured on Java 17: 4 s of sleeps returned after
    # 2.7 s at 3.5x the CPU; with 0 they take 4.0 s and the broker starts as fast as without.
    export FAKETIME_FORCE_MONOTONIC_FIX=0
fi

exec "$@"
