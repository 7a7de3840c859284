"""The Kafka node image as an entry of `compose.images.IMAGES`.

Inputs (their hash decides whether to rebuild): the Dockerfile, pom.xml, the start
script, log4j config, the log dump tool, the fault agent, and the Kafka version. The
host-side prepare step (`compose.kafka.jars.resolve_jars`) resolves the jars from Maven
Central into the staged context's ``libs/``.
"""

from __future__ import annotations

from compose.kafka.jars import KAFKA_VERSION, resolve_jars
from compose.spec import ImageSpec

SPEC = ImageSpec(
    name="kafka",
    repository="floodmark/kafka",
    base="base",
    context={
        "Dockerfile": "compose/kafka/Dockerfile",
        "pom.xml": "compose/kafka/pom.xml",
        "start-kafka.sh": "compose/kafka/start-kafka.sh",
        "log4j.properties": "compose/kafka/log4j.properties",
        "kafka_logdump.py": "compose/kafka/kafka_logdump.py",
        "agent": "faults/agent",
    },
    recipe={"kafka": KAFKA_VERSION, "jre": "openjdk-17-jre-headless (Debian bookworm)"},
    prepare=resolve_jars,
)
