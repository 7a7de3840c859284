"""The glossary and the checker registry agree: every anomaly is reported where it says."""

from __future__ import annotations

from checkers import CHECKERS
from harness.contract.glossary import GLOSSARY, LIVENESS, SAFETY, Anomaly, Kind
from harness.contract.verdict import Verdict


def test_every_anomaly_has_an_entry_and_the_kinds_partition_them() -> None:
    assert set(GLOSSARY) == set(Anomaly)
    assert sorted(SAFETY + LIVENESS) == sorted(Anomaly)
    assert all(GLOSSARY[a].meaning for a in Anomaly)


def test_the_checker_named_in_the_glossary_reports_the_anomaly() -> None:
    reports = {name: set(factory().anomalies) for name, factory in CHECKERS.items()}
    for a in Anomaly:
        assert a.checker in CHECKERS, f"{a}: no checker {a.checker!r} in checkers.registry"
        assert a in reports[a.checker], f"{a}: {a.checker} does not decide it"


def test_only_safety_anomalies_prove_a_run_invalid() -> None:
    invalidating = {a for a in Anomaly if a.found is Verdict.INVALID}
    assert invalidating <= set(SAFETY)
    assert {a for a in SAFETY if a.found is Verdict.UNKNOWN} == {
        Anomaly.UNSEEN,
        Anomaly.UNVERIFIED_FAULT,
    }
    assert all(a.kind is Kind.LIVENESS and a.found is Verdict.UNKNOWN for a in LIVENESS)
