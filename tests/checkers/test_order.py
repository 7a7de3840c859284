"""poll-skip, nonmonotonic-poll and nonmonotonic-send on tiny hand-written histories."""

from __future__ import annotations

from harness.contract.results import Results
from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts, indexes


def _order(r: Results) -> dict[str, int]:
    """The counts but ``unseen``: these histories have no final read, so every polled value
    is unseen (tests/checkers/test_loss.py says so); only the order anomalies matter here."""
    return {name: n for name, n in counts(r).items() if name != "unseen"}


def test_dense_polls_from_where_they_asked_are_valid() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7], [1, 8]], hw=3)
    h.poll(5, 1, 2, [[2, 9]], hw=3)
    h.poll(5, 1, 3, [], hw=3)
    h.poll(5, 1, 1, [[1, 8]], hw=3)  # a seek back on purpose: judged against its from
    assert h.check().checkers["poll-skip"].verdict is Verdict.VALID
    assert h.check().checkers["nonmonotonic-poll"].verdict is Verdict.VALID


def test_records_starting_after_from_are_a_skip() -> None:
    h = History()
    poll = h.poll(5, 1, 0, [[1, 8], [2, 9]], hw=3)
    r = h.check()
    assert _order(r) == {"poll-skip": 1}
    w = r.checkers["poll-skip"].witnesses[0]
    assert w.offset == 0
    assert "offsets 0..0 were skipped" in w.message
    assert indexes(r, "poll-skip") == [poll.index]


def test_a_jump_inside_a_poll_is_a_skip() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7], [2, 9]], hw=3)
    assert _order(h.check()) == {"poll-skip": 1}


def test_a_record_before_from_is_nonmonotonic() -> None:
    h = History()
    h.poll(5, 1, 3, [[2, 9], [3, 10]], hw=4)
    r = h.check()
    assert _order(r) == {"nonmonotonic-poll": 1}
    assert r.checkers["nonmonotonic-poll"].witnesses[0].offset == 2


def test_offsets_going_backwards_or_repeating_are_nonmonotonic() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7], [1, 8], [0, 7]], hw=2)
    h.poll(6, 1, 0, [[0, 7], [0, 7]], hw=2)
    assert _order(h.check()) == {"nonmonotonic-poll": 2}


def test_one_poll_can_both_skip_and_go_back_and_counts_once_each() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7], [3, 8], [1, 9], [5, 2]], hw=6)
    assert _order(h.check()) == {"poll-skip": 1, "nonmonotonic-poll": 1}


def test_a_hole_in_the_final_read_is_a_skip() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 9, 2)
    h.send(1, 1, 8, type="info")
    fr = h.final_read(9, 1, [[0, 7], [2, 9]])
    r = h.check()
    assert counts(r) == {"poll-skip": 1}
    assert "final read" in r.checkers["poll-skip"].witnesses[0].message
    assert indexes(r, "poll-skip") == [fr.index]


def test_failed_and_info_polls_are_not_judged() -> None:
    h = History()
    h.poll(5, 1, 0, [], hw=0, type="fail")
    h.poll(6, 1, 4, [], hw=0, type="info")
    assert counts(h.check()) == {}


def test_a_process_acked_an_earlier_offset_after_a_later_one() -> None:
    h = History()
    first = h.send(0, 1, 7, 5)
    second = h.send(0, 1, 8, 3)
    r = h.check()
    assert r.checkers["nonmonotonic-send"].count == 1
    assert indexes(r, "nonmonotonic-send") == [first.index, second.index]
    assert r.checkers["nonmonotonic-send"].witnesses[0].offset == 3


def test_same_offset_twice_is_nonmonotonic_send() -> None:
    h = History()
    h.send(0, 1, 7, 5)
    h.send(0, 1, 8, 5)
    assert h.check().checkers["nonmonotonic-send"].count == 1


def test_send_order_is_per_process_and_per_key() -> None:
    h = History()
    h.send(0, 1, 7, 5)
    h.send(1, 1, 8, 3)  # another process: may land earlier
    h.send(0, 2, 9, 0)  # another key
    h.send(0, 1, 10, 6)
    h.send(0, 1, 11, type="fail")
    h.send(0, 1, 12, 7)
    assert h.check().checkers["nonmonotonic-send"].count == 0
