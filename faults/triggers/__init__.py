"""Protocol-aware triggers: danger points of replication seen in the monitor's samples.

The default schedule (`faults.default`) watches each round of ``replica-state`` samples
(DESIGN.md §3, the shape every `harness.contract.roles.System` reports, replog's and
Kafka's alike) and fires a fault the moment replication is fragile: a leader whose ISR
shrank to itself, a follower that just came back, a leader change in flight, a healthy
cluster writing (every replica holds data it may not have fsynced). Each trigger is one
`faults.triggers.trigger.Trigger` value in a family module (`isr`, `truncation`,
`election`, `power`), registered in `faults.triggers.registry.TRIGGERS`;
`faults.triggers.engine.TriggerEngine` draws every choice from its own seeded RNG and
records in each op the trigger and the state that fired it.
"""
