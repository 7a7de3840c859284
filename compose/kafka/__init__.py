"""The Apache Kafka node image: Dockerfile, Maven pom, start script, log dump tool.

`jars.resolve_jars` is the image's host-side ``prepare`` step (see `compose.spec`).
"""
