"""An example chaos test written with floodmark's pytest plugin (no imports needed).

Run it with ``pytest examples/`` (Docker required; ``make test`` runs it). The
``floodmark_run`` fixture starts a replog cluster behind Toxiproxy, runs acks=all
producers and consumers while partitioning and killing nodes, checks the history and
fails the test unless the verdict is the expected one. The run directory (history,
report.html, junit.xml, node logs) is attached to the test report.
"""

import pytest


@pytest.mark.chaos
def test_safe_replog_loses_nothing_under_partitions_and_kills(floodmark_run):
    result = floodmark_run(
        system="replog",
        profile="kafka-0.11",
        settings={"min.insync.replicas": 2, "unclean.leader.election.enable": False},
        nemesis="partition,kill",
        nemesis_interval=5,
        time_limit=20,
        seed=42,
    )
    assert result.verdict == "valid", result.summary()
    assert (result.run_dir / "report.html").is_file()
