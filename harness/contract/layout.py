"""The store's layout: every file name of a run directory, defined once.

Layout::

    store/
      index.html                   INDEX: every run at a glance (reports.index)
      latest -> <test>/<stamp>      LATEST: the newest run of any test
      <test>/
        latest -> <stamp>           LATEST: the newest run of this test
        <stamp>/                    one run directory (harness.store.open_run)
          test.json                 TEST: config, seed, versions, outcome, the reproducing command
          history.jsonl             HISTORY: the history (DESIGN.md §3), appended as the run goes
          cluster.json              CLUSTER: the rendered cluster plan (nodes, proxies)
          cluster/<node>/           CLUSTER_FILES: rendered node config files (mounted read-only)
          logs/<node>.log           LOGS: node logs, collected before the containers go
          harness.log               HARNESS_LOG: the harness's own log of the run
          results.json              RESULTS: the checkers' verdict (harness.contract.results)
          report.html               REPORT: the failure report (reports.html)
          junit.xml                 JUNIT: one test case per anomaly (reports.junit)
      certify/<suite>/<stamp>/      CERTIFY: one certification suite (harness.certify)
        summary.json                SUMMARY
        junit.xml                   JUNIT: one test case per scenario
        certificate.html            CERTIFICATE

A directory is a run directory when it holds any of `RUN_MARKERS` (a history copied off
a CI machine, a run killed before its check: readers must cope with the others missing).
"""

from __future__ import annotations

from typing import Final

TEST: Final = "test.json"
HISTORY: Final = "history.jsonl"
CLUSTER: Final = "cluster.json"
CLUSTER_FILES: Final = "cluster"
LOGS: Final = "logs"
HARNESS_LOG: Final = "harness.log"
RESULTS: Final = "results.json"
REPORT: Final = "report.html"
JUNIT: Final = "junit.xml"

LATEST: Final = "latest"
INDEX: Final = "index.html"

CERTIFY: Final = "certify"
SUMMARY: Final = "summary.json"
CERTIFICATE: Final = "certificate.html"

SHRINK: Final = "shrink"
"""``RUN_DIR/shrink/``: what ``floodmark shrink RUN_DIR`` writes (candidates, the minimal
schedule, its page)."""
MINIMAL: Final = "minimal.json"
SHRINK_PAGE: Final = "shrink.html"

RUN_MARKERS: Final = (HISTORY, RESULTS, TEST)
"""Files any one of which makes a directory a run directory."""
