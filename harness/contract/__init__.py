"""The contract: the vocabulary every floodmark package shares, importing nothing else of
floodmark (import-linter holds this; see the README's "Architecture").

- `history`: operations (`Op`, `OpType`, `F`, nemesis op names `Phase`/`FaultF`), the
  schema checks of a line and the flushing writer of ``history.jsonl`` (DESIGN.md §3).
- `reader`: the streaming, validating reader of ``history.jsonl`` (typed `Line` s for
  the checkers, `Op` s for the reports).
- `roles`: one small protocol per role (`Client`, `System`, `Cluster`, `Fault`) and the
  fault package value (`FaultPackage`, `FaultOp`, `NemesisContext`, `NemesisOption`).
- `plan`: the cluster plan a system renders (nodes, one proxy per directed link).
- `verdict`: valid / unknown / invalid and how verdicts merge.
- `glossary`: every anomaly: kind (safety or liveness), meaning, reporting checker.
- `links`: link state and the switchboard protocol the Toxiproxy client implements.
- `layout`: every file name of a run directory.
- `results`: the one reader and writer of ``results.json``.
- `config`: the test as plain data, validated against a `Catalogue` of registry names.
- `safely`: the one logged way teardown may swallow an error.
"""
