"""Network faults: every link of a cluster is a Toxiproxy proxy (see `harness.plan`).

`faults.network.toxiproxy` is the typed Toxiproxy API client every network fault uses.
"""
