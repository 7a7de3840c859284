"""replog: the reference replicated log that ships with floodmark (stdlib only).

A miniature Kafka whose internals floodmark can see and whose known pre-0.11 failure
modes (KIP-101) can be switched on. Modules:

- `replog.wire`: frames and error codes (`ErrorCode`), shared by every link.
- `replog.config`: config files, profiles (``kafka-0.10``, ``kafka-0.11``), settings.
- `replog.storage`: segment files, checkpoints, the leader-epoch cache, recovery.
- `replog.partition`: one replica's replication rules (LEO, HW, ISR, epochs, truncation).
- `replog.follower`: the follower's truncate-then-fetch loop.
- `replog.net`: the asyncio frame server and persistent outbound links.
- `replog.broker` / `replog.controller`: the two processes (``python -m ...``);
  `replog.broker_requests`: what a broker answers to each request type;
  `replog.process`: their shared command line, logging and signal handling.
- `replog.localcluster`: a cluster of real processes on loopback (tests, benchmarks).
- `replog.client`: the blocking client floodmark's workloads use.

Nothing here imports the rest of floodmark.
"""
