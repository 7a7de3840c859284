"""Network faults: every link of a cluster is a Toxiproxy proxy (see `harness.contract.plan`).

`compose.toxiproxy.client` is the typed Toxiproxy API client every network fault uses.
"""
