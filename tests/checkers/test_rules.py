"""Issue 13's rules, each shown to hold and shown to catch what it forbids.

2. valid means something was checked; what a consumer saw is looked for like an ack;
3. a value at two offsets is a duplicate, present at both for lost-read;
4. a complete final read holding a value shows it exists, whenever it began;
5. the HW form of lost-read checks every HW seen before the final read began;
6. a completion carries its invoke's key and value.

(Rule 1, exit codes and text never read as markup, is tests/harness/test_cli_markup.py;
rule 7 is tests/checkers/test_fuzz.py; rule 8 is bench/check_bench.py.)
"""

from __future__ import annotations

import pytest

from checkers import check_ops, paired
from harness.contract.history import HistoryError, Op, OpType
from harness.contract.verdict import Verdict
from tests.checkers.hist import History, counts, indexes

# --- rule 2: valid means something was checked -----------------------------------------


def test_nothing_acknowledged_and_nothing_read_is_unknown_not_valid() -> None:
    h = History()
    h.send(0, 1, 7, type="fail")
    h.poll(5, 1, 0, [], hw=0)
    h.final_read(9, 1, [])
    r = h.check()
    assert r.verdict is Verdict.UNKNOWN and r.exit_code == 2
    assert counts(r) == {}
    assert any(note.startswith("nothing was checked") for note in r.notes)


def test_one_acknowledged_write_found_in_the_final_read_is_valid() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.final_read(9, 1, [[0, 7]])
    r = h.check()
    assert r.verdict is Verdict.VALID
    assert not any("nothing was checked" in note for note in r.notes)


def test_one_polled_value_found_in_the_final_read_is_valid() -> None:
    h = History()
    h.send(0, 1, 7, type="info")  # not acked: only the poll makes it checked
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.final_read(9, 1, [[0, 7]])
    assert h.check().verdict is Verdict.VALID


def test_a_polled_value_whose_only_final_read_gave_up_is_unseen() -> None:
    h = History()
    h.send(0, 1, 7, type="info")
    poll = h.poll(5, 1, 0, [[0, 7]], hw=1)
    fr = h.final_read(9, 1, None, type="info")
    r = h.check()
    assert r.verdict is Verdict.UNKNOWN
    assert counts(r) == {"unseen": 1}
    w = r.checkers["unseen"].witnesses[0]
    assert (w.key, w.offset, w.value) == (1, 0, 7)
    assert "read by a poll" in w.message and "did not complete" in w.message
    assert indexes(r, "unseen") == [poll.index, fr.index]


def test_a_value_acked_and_polled_is_unseen_once() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.final_read(9, 1, None, type="info")
    assert counts(h.check()) == {"unseen": 1}


def test_a_polled_value_in_a_partial_final_read_is_not_unseen_but_nothing_was_checked() -> None:
    h = History()
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.final_read(9, 1, [[0, 7]], complete=False)
    r = h.check()
    assert counts(r) == {}
    assert r.verdict is Verdict.UNKNOWN  # seen, but never looked for in a complete read


# --- rule 3: a value at two offsets ----------------------------------------------------


def test_a_value_at_two_offsets_of_the_final_read_is_a_duplicate_not_a_lost_read() -> None:
    h = History()
    h.send(0, 1, 3, 0)
    h.send(1, 1, 4, type="info")
    h.poll(5, 1, 0, [[0, 3]], hw=2)
    fr = h.final_read(9, 1, [[0, 3], [1, 3]])
    r = h.check()
    assert counts(r) == {"duplicate": 1}
    assert r.checkers["lost-read"].verdict is Verdict.VALID
    assert r.checkers["duplicate"].witnesses[0].details["offsets"] == [0, 1]
    assert indexes(r, "duplicate")[-1] == fr.index


def test_a_really_missing_offset_below_a_polled_hw_is_still_a_lost_read() -> None:
    h = History()
    h.send(0, 1, 3, 0)
    h.poll(5, 1, 0, [[0, 3]], hw=3)  # offsets 0..2 committed
    h.final_read(9, 1, [[0, 3], [2, 3]])  # 3 twice, offset 1 missing
    r = h.check()
    assert counts(r) == {"duplicate": 1, "lost-read": 1, "poll-skip": 1}
    w = r.checkers["lost-read"].witnesses[0]
    assert w.offset == 1 and w.details["missing_offsets"] == 1


# --- rule 4: a complete final read holding a value shows it exists ---------------------


def test_a_final_read_begun_before_the_ack_that_holds_the_value_makes_it_seen() -> None:
    h = History()
    h.add(9, "invoke", "final-read", {"key": 1})
    h.send(0, 1, 7, 0)
    h.add(9, "ok", "final-read", {"key": 1, "records": [[0, 7]], "hw": 1, "complete": True})
    r = h.check()
    assert r.verdict is Verdict.VALID, counts(r)


def test_a_final_read_begun_before_the_ack_without_the_value_leaves_it_unseen() -> None:
    h = History()
    h.add(9, "invoke", "final-read", {"key": 1})
    h.send(0, 1, 7, 0)
    h.add(9, "ok", "final-read", {"key": 1, "records": [], "hw": 0, "complete": True})
    r = h.check()
    assert counts(r) == {"unseen": 1}  # never lost: the read may have run first
    assert "no complete final read of key 1 was started after" in (
        r.checkers["unseen"].witnesses[0].message
    )


def test_a_polled_value_held_by_a_final_read_begun_before_the_poll_is_seen() -> None:
    h = History()
    h.send(0, 1, 7, type="info")
    h.add(9, "invoke", "final-read", {"key": 1})
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.add(9, "ok", "final-read", {"key": 1, "records": [[0, 7]], "hw": 1, "complete": True})
    assert h.check().verdict is Verdict.VALID


# --- rule 5: every HW seen before the final read began ---------------------------------


def test_an_earlier_hw_is_checked_when_the_highest_hw_poll_ran_late() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(1, 1, 8, type="info")
    early = h.poll(5, 1, 0, [[0, 7]], hw=2)  # offset 1 committed, before the final read
    h.add(9, "invoke", "final-read", {"key": 1})
    h.poll(6, 1, 0, [[0, 7]], hw=5)  # a late poll with a higher HW, during the final read
    fr = h.add(9, "ok", "final-read", {"key": 1, "records": [[0, 7]], "hw": 1, "complete": True})
    r = h.check()
    assert counts(r) == {"lost-read": 1}
    w = r.checkers["lost-read"].witnesses[0]
    assert "saw hw 2" in w.message and w.offset == 1
    assert indexes(r, "lost-read") == [early.index, fr.index]


def test_a_hw_seen_only_after_the_final_read_began_is_not_held_against_it() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.add(9, "invoke", "final-read", {"key": 1})
    h.poll(6, 1, 0, [[0, 7]], hw=5)
    h.add(9, "ok", "final-read", {"key": 1, "records": [[0, 7]], "hw": 1, "complete": True})
    assert h.check().verdict is Verdict.VALID


def test_the_highest_hw_before_the_read_is_the_one_checked() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.send(0, 1, 8, 1)
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    top = h.poll(6, 1, 0, [[0, 7], [1, 8]], hw=3)  # offset 2 committed too
    h.poll(5, 1, 1, [], hw=1)  # a lower HW later is legal
    fr = h.final_read(9, 1, [[0, 7], [1, 8]])
    r = h.check()
    assert counts(r) == {"lost-read": 1}
    assert indexes(r, "lost-read") == [top.index, fr.index]


# --- rule 6: a completion carries its invoke's key and value ---------------------------


@pytest.mark.parametrize(
    ("f", "invoke", "done", "what"),
    [
        ("send", {"key": 1, "value": 7}, {"key": 2, "value": 7, "offset": 0}, "key 2"),
        ("send", {"key": 1, "value": 7}, {"key": 1, "value": 8, "offset": 0}, "value 8"),
        ("poll", {"key": 1, "from": 0}, {"key": 1, "from": 3, "records": [], "hw": 0}, "from 3"),
        ("final-read", {"key": 1}, {"key": 2, "records": [], "hw": 0, "complete": True}, "key 2"),
        ("send", {"key": 1, "value": 7}, {"key": 1, "value": 9}, "value 9"),  # an info
    ],
)
def test_a_completion_that_changes_its_invokes_key_or_value_is_a_schema_error(
    f: str, invoke: dict[str, int], done: dict[str, object], what: str
) -> None:
    h = History()
    h.send(0, 1, 1, 0)
    h.add(3, "invoke", f, invoke)
    h.add(3, "ok" if "offset" in done or "records" in done else "info", f, done)
    with pytest.raises(HistoryError) as e:
        check_ops(h.ops)
    assert e.value.line_no == 4
    assert "line 4" in str(e.value) and "line 3" in str(e.value)  # both lines named
    assert what in str(e.value)
    with pytest.raises(HistoryError, match="carries"):  # the reports' pairing says the same
        list(paired(h.ops))


def test_a_completion_carrying_its_invokes_key_and_value_pairs() -> None:
    h = History()
    h.send(0, 1, 7, 0)
    h.poll(5, 1, 0, [[0, 7]], hw=1)
    h.send(1, 1, 8, type="fail")
    h.final_read(9, 1, [[0, 7]])
    assert check_ops(h.ops).verdict is Verdict.VALID
    assert len(list(paired(h.ops))) == len(h.ops)


def test_an_untyped_client_operation_is_paired_by_f_only() -> None:
    ops = [
        Op(0, 1, 0, OpType.INVOKE, "cas", {"key": 1, "from": 2}),
        Op(1, 2, 0, OpType.OK, "cas", {"key": 3}),
    ]
    assert len(list(paired(ops))) == 2
    check_ops(ops)  # no schema for cas: nothing to compare
