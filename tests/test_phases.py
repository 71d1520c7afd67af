"""Phase timing: a phase timed inside another counts once, for the inner one; the summary adds up."""

import time

from bgsplit_tf import phases


def test_inner_phases_count_for_themselves_only_and_the_summary_names_what_is_left():
    before = phases.totals()
    with phases.timed(phases.TRAINING):
        time.sleep(0.05)
        with phases.timed(phases.TEACHER):
            time.sleep(0.1)
    added = phases.since(before)
    assert list(added) == [phases.TEACHER, phases.TRAINING]  # in pipeline order
    assert 0.1 <= added[phases.TEACHER] < 0.3 and 0.05 <= added[phases.TRAINING] < 0.1
    line = phases.summary({"teacher pass": 12.4, "training": 100.0}, 130.0)
    assert line == "teacher pass 12 s, training 100 s, other 18 s (of 130 s)"


def test_a_phase_that_raises_is_still_counted():
    before = phases.totals()
    try:
        with phases.timed(phases.EVALUATION):
            time.sleep(0.02)
            raise KeyError("boom")
    except KeyError:
        pass
    assert phases.since(before)[phases.EVALUATION] >= 0.02
