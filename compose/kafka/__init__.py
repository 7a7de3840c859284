"""The Apache Kafka node images: the table of releases (`releases`), one image per
release or user distribution (`image`, `dist`), the Dockerfile, Maven pom, start script,
logging configs and log dump tool.

`jars.resolve_jars` is a release image's host-side ``prepare`` step (see `compose.spec`).
"""
