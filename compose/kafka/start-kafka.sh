#!/bin/sh
# Starts one Kafka broker or KRaft controller from the config floodmark rendered.
#   KAFKA_CONFIG      server.properties path (default /etc/floodmark/kafka/server.properties,
#                     mounted by the harness)
#   KAFKA_CLUSTER_ID  KRaft: the cluster id the storage is formatted with (22 chars,
#                     base64url)
#   KAFKA_START_WINDOW_S, KAFKA_START_BUDGET_S, KAFKA_START_PAUSE_S
#                     ZooKeeper mode: the start retries below (defaults 60, 240, 2)
# KRaft: the storage under log.dirs is formatted only while it holds no meta.properties, so
# a restarted node (kill fault) keeps its log and metadata.
# ZooKeeper mode (the config names zookeeper.connect): nothing to format; a broker
# SIGKILLed and started again before ZooKeeper expired its old session
# (zookeeper.session.timeout.ms) finds its own registration still there, says "A broker is
# already registered on the path /brokers/ids/N" and exits, so a start that fails within
# START_WINDOW_S is tried again START_PAUSE_S later, for up to START_BUDGET_S in all. The
# budget is long because ZooKeeper 3.4 times sessions by the wall clock: after its clock
# was set back (clock fault) it expires no session for as long as the step (measured:
# 60 s). A broker that ran longer and died is not restarted: that is a crash the run must
# see. Time is read from /proc/uptime, which a faked clock (libfaketime) leaves alone.
set -eu
CONF="${KAFKA_CONFIG:-/etc/floodmark/kafka/server.properties}"
START_WINDOW_S="${KAFKA_START_WINDOW_S:-60}"
START_BUDGET_S="${KAFKA_START_BUDGET_S:-240}"
START_PAUSE_S="${KAFKA_START_PAUSE_S:-2}"
uptime_s() { read -r up _ </proc/uptime; echo "${up%.*}"; }
if [ ! -r "$CONF" ]; then
  echo "start-kafka: expected the rendered config at $CONF; the harness mounts it" >&2
  exit 2
fi
DATA_DIR=$(sed -n 's/^log\.dirs=//p' "$CONF" | cut -d, -f1)
CP='/opt/kafka/libs/*'
# Kafka before 4.0 logs through Log4j 1.2 or reload4j (log4j.properties), 4.x through
# Log4j 2 (log4j2.properties); each reads only its own property, so both are given.
LOG4J="-Dlog4j.configuration=file:/opt/kafka/log4j.properties -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties"
mkdir -p "$DATA_DIR"

if grep -q '^zookeeper\.connect=' "$CONF"; then
  child=""
  trap '[ -n "$child" ] && kill -TERM "$child"; wait "$child"; exit 143' TERM INT
  attempt=1
  first=$(uptime_s)
  while :; do
    began=$(uptime_s)
    # shellcheck disable=SC2086
    java $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS $LOG4J -cp "$CP" kafka.Kafka "$CONF" &
    child=$!
    code=0
    wait "$child" || code=$?
    now=$(uptime_s)
    ran=$((now - began))
    if [ "$code" = 0 ] || [ "$ran" -ge "$START_WINDOW_S" ] || [ $((now - first)) -ge "$START_BUDGET_S" ]; then
      exit "$code"
    fi
    echo "start-kafka: the broker exited $code after ${ran} s (start attempt $attempt," \
      "$((now - first)) of ${START_BUDGET_S} s); ZooKeeper may still hold the registration" \
      "of the process killed before it: trying again in ${START_PAUSE_S} s"
    attempt=$((attempt + 1))
    sleep "$START_PAUSE_S"
  done
fi

: "${KAFKA_CLUSTER_ID:?floodmark must pass KAFKA_CLUSTER_ID (22 chars, base64url)}"
if [ ! -f "$DATA_DIR/meta.properties" ]; then
  echo "start-kafka: formatting $DATA_DIR for cluster $KAFKA_CLUSTER_ID"
  # shellcheck disable=SC2086
  java $KAFKA_JVM_OPTS -Xmx128m $LOG4J -cp "$CP" kafka.tools.StorageTool format \
    --cluster-id "$KAFKA_CLUSTER_ID" --config "$CONF" --ignore-formatted
  # The format does not fsync bootstrap.checkpoint/meta.properties. Under floodmark's lazyfs
  # layer (lose-unfsynced) they would stay pending forever and a later power-loss crash
  # would leave them empty ("No FeatureLevelRecord for metadata.version"): provisioning
  # happens before the node serves, as if an operator ran `sync`, so make it durable.
  if [ "${FLOODMARK_LAZYFS:-0}" = 1 ]; then
    python3 /opt/floodmark/agent/lazyfs.py ctl flush >/dev/null
  fi
fi
# shellcheck disable=SC2086
exec java $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS $LOG4J -cp "$CP" kafka.Kafka "$CONF"
