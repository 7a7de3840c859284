"""hw-above-leo, epoch-split-brain and replica-divergence on tiny hand-written histories."""

from __future__ import annotations

from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts, indexes


def test_hw_above_leo_in_a_sample() -> None:
    h = History()
    h.state(1, "n1", leo=5, hw=5)
    bad = h.state(1, "n2", leo=4, hw=5)
    r = h.check()
    assert counts(r) == {"hw-above-leo": 1}
    assert indexes(r, "hw-above-leo") == [bad.index]
    assert r.checkers["hw-above-leo"].witnesses[0].details == {"node": "n2", "hw": 5, "leo": 4}


def test_hw_above_leo_in_a_dump() -> None:
    h = History()
    h.dump(1, "n1", [[0, 7]], hw=2, leo=1)
    assert counts(h.check()) == {"hw-above-leo": 1}


def test_two_leaders_in_one_epoch_is_split_brain() -> None:
    h = History()
    a = h.state(1, "n1", role="leader", leo=3, hw=3, epoch=3)
    h.state(1, "n1", role="leader", leo=4, hw=4, epoch=3)  # the same leader again: fine
    b = h.state(1, "n2", role="leader", leo=3, hw=2, epoch=3)
    h.state(1, "n2", role="leader", leo=3, hw=2, epoch=3)  # counted once per pair
    r = h.check()
    assert counts(r) == {"epoch-split-brain": 1}
    assert indexes(r, "epoch-split-brain") == [a.index, b.index]
    assert r.checkers["epoch-split-brain"].witnesses[0].details == {
        "epoch": 3,
        "nodes": ["n1", "n2"],
    }


def test_leaders_in_different_epochs_or_keys_are_fine() -> None:
    h = History()
    h.state(1, "n1", role="leader", epoch=3)
    h.state(1, "n2", role="leader", epoch=4)
    h.state(2, "n3", role="leader", epoch=3)
    h.state(1, "n3", role="follower", epoch=4)
    h.state(1, "n3", role="offline", epoch=4)
    assert h.check().checkers["epoch-split-brain"].verdict is Verdict.VALID


def test_dumps_disagreeing_below_both_hws_diverge() -> None:
    h = History()
    a = h.dump(0, "n1", [[0, 5], [1, 6]], hw=2)
    b = h.dump(0, "n2", [[0, 5], [1, 9], [2, 10]], hw=2)
    h.dump(0, "n3", [[0, 5], [1, 6]], hw=2)
    r = h.check()
    div = r.checkers["replica-divergence"]
    assert div.count == 2  # n1-n2 and n2-n3; n1-n3 agree
    assert indexes(r, "replica-divergence") == [a.index, b.index]
    w = div.witnesses[0]
    assert w.offset == 1
    assert "n1 has 6, n2 has 9" in w.message
    assert r.verdict is Verdict.INVALID


def test_dumps_differing_only_above_a_hw_do_not_diverge() -> None:
    h = History()
    h.dump(0, "n1", [[0, 5], [1, 6]], hw=2)
    h.dump(0, "n2", [[0, 5], [1, 9]], hw=1)  # n2's offset 1 is uncommitted
    assert h.check().checkers["replica-divergence"].count == 0


def test_a_record_missing_below_both_hws_diverges() -> None:
    h = History()
    h.dump(0, "n1", [[0, 5], [1, 6]], hw=2)
    h.dump(0, "n2", [[0, 5]], hw=2, leo=2)
    r = h.check()
    assert r.checkers["replica-divergence"].count == 1
    assert "n2 has nothing" in r.checkers["replica-divergence"].witnesses[0].message


def test_dumps_of_different_keys_are_not_compared() -> None:
    h = History()
    h.dump(0, "n1", [[0, 5]], hw=1)
    h.dump(1, "n1", [[0, 6]], hw=1)
    assert h.check().checkers["replica-divergence"].count == 0
