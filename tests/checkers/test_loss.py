"""lost-write, lost-read and unseen on tiny hand-written histories."""

from __future__ import annotations

from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts, indexes


def test_all_acked_values_present_is_valid() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.final_read(9, 1, [[0, 7], [1, 8]])
    r = h.check()
    assert r.verdict is Verdict.VALID
    assert counts(r) == {}


def test_acked_value_missing_from_final_read_is_a_lost_write() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    ack = h.send(0, 1, 8, 1)
    fr = h.final_read(9, 1, [[0, 7]])
    r = h.check()
    assert r.verdict is Verdict.INVALID
    assert counts(r) == {"lost-write": 1}
    w = r.checkers["lost-write"].witnesses[0]
    assert (w.key, w.offset, w.value) == (1, 1, 8)
    assert indexes(r, "lost-write") == [ack.index, fr.index]
    assert "value 8 acked at key 1 offset 1" in w.message


def test_final_read_that_gave_up_makes_acked_values_unseen_not_lost() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, None, type="info")
    r = h.check()
    assert r.verdict is Verdict.UNKNOWN
    assert r.exit_code == 2
    assert counts(r) == {"unseen": 1}
    assert r.checkers["unseen"].verdict is Verdict.UNKNOWN
    assert r.checkers["lost-write"].verdict is Verdict.VALID
    assert "did not complete" in r.checkers["unseen"].witnesses[0].message


def test_incomplete_final_read_counts_what_it_saw() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.final_read(9, 1, [[0, 7]], complete=False)
    r = h.check()
    assert counts(r) == {"unseen": 1}
    assert r.checkers["unseen"].witnesses[0].value == 8


def test_no_final_read_at_all_is_unseen() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    r = h.check()
    assert r.verdict is Verdict.UNKNOWN
    assert "no final read of key 1" in r.checkers["unseen"].witnesses[0].message


def test_final_read_started_before_the_ack_cannot_lose_it() -> None:
    h = History()
    h.add(9, "invoke", "final-read", {"key": 1})
    h.send(0, 1, 7, 0)
    h.add(9, "ok", "final-read", {"key": 1, "records": [], "hw": 0, "complete": True})
    r = h.check()
    assert r.checkers["lost-write"].verdict is Verdict.VALID
    assert counts(r) == {"unseen": 1}


def test_info_send_that_appears_happened_and_is_neither_lost_nor_duplicate() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    h.send(2, 1, 9, 2)
    h.poll(5, 1, 0, [[0, 7], [1, 8], [2, 9]], hw=3)
    h.final_read(9, 1, [[0, 7], [1, 8], [2, 9]])
    r = h.check()
    assert r.verdict is Verdict.VALID, counts(r)


def test_info_send_that_never_appears_is_not_lost() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    h.send(2, 1, 9, type="fail")
    h.final_read(9, 1, [[0, 7]])
    assert h.check().verdict is Verdict.VALID


def test_polled_value_missing_from_final_read_is_a_lost_read() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")  # not acked, so only the poll proves it was committed
    poll = h.poll(5, 1, 0, [[0, 7], [1, 8]], hw=2)
    fr = h.final_read(9, 1, [[0, 7]])
    r = h.check()
    assert counts(r) == {"lost-read": 1}
    w = r.checkers["lost-read"].witnesses[0]
    assert (w.key, w.offset, w.value) == (1, 1, 8)
    assert indexes(r, "lost-read") == [poll.index, fr.index]


def test_offsets_below_a_polled_hw_missing_from_final_read_are_a_lost_read() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    h.send(2, 1, 9, type="info")
    poll = h.poll(5, 1, 0, [[0, 7]], hw=3)  # offsets 1 and 2 are committed, unread
    fr = h.final_read(9, 1, [[0, 7]])
    r = h.check()
    assert counts(r) == {"lost-read": 1}
    w = r.checkers["lost-read"].witnesses[0]
    assert w.offset == 1
    assert w.details["missing_offsets"] == 2
    assert indexes(r, "lost-read") == [poll.index, fr.index]


def test_value_and_hw_forms_do_not_count_one_loss_twice() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    h.poll(5, 1, 0, [[0, 7], [1, 8]], hw=2)
    h.final_read(9, 1, [[0, 7]])
    assert counts(h.check()) == {"lost-read": 1}


def test_lower_hw_after_leader_change_is_legal() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.send(0, 1, 9, 2)
    h.poll(5, 1, 0, [[0, 7], [1, 8], [2, 9]], hw=3)
    h.state(1, "n2", role="leader", leo=3, hw=1, epoch=2)  # the new leader's HW lags
    h.poll(6, 1, 0, [[0, 7]], hw=1)
    h.poll(6, 1, 1, [[1, 8], [2, 9]], hw=3)
    h.final_read(9, 1, [[0, 7], [1, 8], [2, 9]])
    r = h.check()
    assert r.verdict is Verdict.VALID, counts(r)


def test_data_below_an_hw_seen_before_a_leader_change_must_not_vanish() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    h.poll(5, 1, 0, [[0, 7]], hw=2)  # saw hw 2: offset 1 is committed
    h.state(1, "n2", role="leader", leo=1, hw=1, epoch=2)
    h.poll(6, 1, 1, [], hw=1)  # a lower HW afterwards is legal by itself...
    h.final_read(9, 1, [[0, 7]])  # ...but offset 1 is gone for good
    r = h.check()
    assert counts(r) == {"lost-read": 1}
    assert "saw hw 2" in r.checkers["lost-read"].witnesses[0].message


def test_the_hw_form_counts_a_hole_in_the_final_read_once_past_what_was_reported() -> None:
    h = History()
    for v in (7, 8, 9, 10):
        h.send(0, 1, v, type="info")
    h.poll(5, 1, 0, [[0, 7], [1, 8], [2, 9]], hw=5)
    fr = h.final_read(9, 1, [[0, 7], [2, 9]])  # a hole at offset 1: not dense
    r = h.check()
    # value 8 at offset 1, then offsets 3 and 4 (the hole is also a skip of the read)
    assert counts(r) == {"lost-read": 2, "poll-skip": 1}
    hw = r.checkers["lost-read"].witnesses[1]
    assert (hw.offset, hw.details["missing_offsets"]) == (3, 2)
    assert indexes(r, "lost-read", 1)[1] == fr.index


def test_the_hw_form_past_a_short_dense_final_read_skips_the_values_reported() -> None:
    h = History()
    for v in (7, 8, 9):
        h.send(0, 1, v, type="info")
    h.poll(5, 1, 0, [[0, 7], [1, 8], [2, 9]], hw=4)
    h.final_read(9, 1, [[0, 7]])  # offsets 1 and 2 are lost values, offset 3 is a hole
    r = h.check()
    assert counts(r) == {"lost-read": 3}
    hw = r.checkers["lost-read"].witnesses[2]
    assert (hw.offset, hw.details["missing_offsets"]) == (3, 1)
