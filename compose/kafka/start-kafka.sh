#!/bin/sh
# Starts one Kafka node (KRaft: broker or controller) from the config floodmark rendered.
#   KAFKA_CONFIG      server.properties path (default /etc/floodmark/kafka/server.properties,
#                     mounted by the harness)
#   KAFKA_CLUSTER_ID  the cluster id the storage is formatted with (22 chars, base64url)
# The storage under log.dirs is formatted only while it holds no meta.properties, so a
# restarted node (kill fault) keeps its log and metadata.
set -eu
CONF="${KAFKA_CONFIG:-/etc/floodmark/kafka/server.properties}"
: "${KAFKA_CLUSTER_ID:?floodmark must pass KAFKA_CLUSTER_ID (22 chars, base64url)}"
if [ ! -r "$CONF" ]; then
  echo "start-kafka: expected the rendered config at $CONF; the harness mounts it" >&2
  exit 2
fi
DATA_DIR=$(sed -n 's/^log\.dirs=//p' "$CONF" | cut -d, -f1)
CP='/opt/kafka/libs/*'
# Kafka 3.x logs through reload4j (log4j.properties), 4.x through Log4j 2 (log4j2.properties);
# each reads only its own property, so both are given.
LOG4J="-Dlog4j.configuration=file:/opt/kafka/log4j.properties -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties"
mkdir -p "$DATA_DIR"
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
