#!/bin/sh
# Entrypoint of every node image (replog, kafka): prepares the fault layers a run asked
# for (owned by the faults package), then runs the node's command.
set -eu
exec "$@"
