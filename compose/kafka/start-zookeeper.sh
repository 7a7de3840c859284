#!/bin/sh
# Starts the ZooKeeper node (zk) of a ZooKeeper-mode Kafka cluster: standalone ZooKeeper
# from the zookeeper jar the release's broker depends on (in /opt/kafka/libs), on the
# config floodmark rendered (ZOOKEEPER_CONFIG, default
# /etc/floodmark/kafka/zookeeper.properties, mounted by the harness). Its data directory
# is on the node's volume, so a restarted zk (kill fault) keeps every znode.
set -eu
CONF="${ZOOKEEPER_CONFIG:-/etc/floodmark/kafka/zookeeper.properties}"
if [ ! -r "$CONF" ]; then
  echo "start-zookeeper: expected the rendered config at $CONF; the harness mounts it" >&2
  exit 2
fi
DATA_DIR=$(sed -n 's/^dataDir=//p' "$CONF")
mkdir -p "$DATA_DIR"
# shellcheck disable=SC2086
exec java $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS -Dlog4j.configuration=file:/opt/kafka/log4j.properties \
  -cp '/opt/kafka/libs/*' org.apache.zookeeper.server.quorum.QuorumPeerMain "$CONF"
