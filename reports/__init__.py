"""Reports: what a person and a CI system read after a run (issue 6, DESIGN.md §2 step 9).

- `reports.html.render_report(run_dir) -> Path`: the self-contained ``report.html``
  (verdict, one line per checker, witnesses with KIP-101 replica diagrams, plots, fault
  schedule, configuration and the reproducing command, node log links). Works on a
  directory holding only ``history.jsonl`` (runs the checkers on it).
- `reports.junit.write_junit(run_dir) -> Path`: ``junit.xml``, one testcase per checker;
  `reports.junit.write_suite_junit(path, rows)`: one testcase per run of a suite.
- `reports.index.render_index(store_dir) -> Path`: ``store/index.html``, newest first.
- `reports.cli.report_command(path) -> int`, `reports.cli.serve_command(store, port) -> int`:
  what ``floodmark report`` and ``floodmark serve`` call.

Inputs are read tolerantly (`reports.inputs`; ``results.json`` through its one reader,
`harness.contract.results`), the history is streamed once for what only a report draws
(`reports.scan`, pairing invokes and completions with the checkers' `checkers.paired`),
plots are matplotlib SVG (`reports.plots`).
"""
