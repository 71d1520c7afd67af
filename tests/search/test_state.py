"""The search's state folder keeps every label, refuses conflicting ones, and resumes after a kill."""

import json
import os

import pytest

from bgsplit_tf.data import fingerprints
from bgsplit_tf.search import state as state_lib

SETTINGS = {"pool": "folder:/data/traps", "categories": ["fox", "owl"], "teacher": "default"}


def test_labels_are_kept_in_order_and_undone_without_losing_history(tmp_path):
    state = state_lib.open_state(tmp_path, SETTINGS)
    state.add("a.jpg", "fox", "yes", "ana", 0)
    state.add("b.jpg", "fox", "no", "ana", 0)
    state.add("a.jpg", "fox", "yes", "ben", 1)  # the same label again: nothing new
    state.undo("b.jpg", "fox", "ana")
    state.add("b.jpg", "owl", "skip", "ana", 1)
    again = state_lib.open_state(tmp_path, SETTINGS)
    assert {key: label.label for key, label in again.labels().items()} == {("a.jpg", "fox"): "yes",
                                                                           ("b.jpg", "owl"): "skip"}
    assert len((tmp_path / "labels.jsonl").read_text().splitlines()) == 4  # the undone label stays on record


def test_a_second_different_label_is_refused_naming_the_first_unless_relabelled(tmp_path):
    state = state_lib.open_state(tmp_path, SETTINGS)
    state.add("a.jpg", "fox", "yes", "ana", 0)
    with pytest.raises(state_lib.LabelConflict, match=r"already labelled 'yes' for fox \(by ana, round 0\)"):
        state.add("a.jpg", "fox", "no", "ben", 1)
    state.add("a.jpg", "fox", "no", "ben", 1, relabel=True)
    assert state.labels()[("a.jpg", "fox")].label == "no"
    with pytest.raises(ValueError, match="not searched for here"):
        state.add("a.jpg", "lynx", "yes", "ana", 0)
    with pytest.raises(ValueError, match="not one of"):
        state.add("a.jpg", "fox", "maybe", "ana", 0)


def test_a_line_cut_short_by_a_kill_loses_only_that_label(tmp_path):
    state = state_lib.open_state(tmp_path, SETTINGS)
    state.add("a.jpg", "fox", "yes", "ana", 0)
    with open(tmp_path / "labels.jsonl", "a") as f:
        f.write('{"item": "b.jpg", "categ')  # killed mid-write
    resumed = state_lib.open_state(tmp_path, SETTINGS)
    assert list(resumed.labels()) == [("a.jpg", "fox")]
    resumed.add("c.jpg", "fox", "no", "ana", 0)  # the cut line, never acknowledged, gives way to the next label
    assert [json.loads(line)["item"] for line in (tmp_path / "labels.jsonl").read_text().splitlines()] == \
        ["a.jpg", "c.jpg"]
    assert set(state_lib.open_state(tmp_path, SETTINGS).labels()) == {("a.jpg", "fox"), ("c.jpg", "fox")}


def test_labels_written_by_another_writer_are_read_too(tmp_path):
    """labels() reads only new lines, but sees every line however it was appended."""
    first, second = state_lib.open_state(tmp_path, SETTINGS), state_lib.open_state(tmp_path, SETTINGS)
    first.add("a.jpg", "fox", "yes", "ana", 0)
    assert second.labels()[("a.jpg", "fox")].label == "yes"
    second.add("a.jpg", "fox", "no", "bo", 0, relabel=True)
    assert first.labels()[("a.jpg", "fox")].label == "no" and first.labels()[("a.jpg", "fox")].who == "bo"


def test_a_folder_of_another_search_is_refused(tmp_path):
    state_lib.open_state(tmp_path, SETTINGS)
    with pytest.raises(fingerprints.FingerprintMismatch, match="categories.*holds another search"):
        state_lib.open_state(tmp_path, {**SETTINGS, "categories": ["lynx"]})
    assert json.loads((tmp_path / "settings.json").read_text()) == SETTINGS


@pytest.mark.e2e  # the holder is a second process
def test_one_process_holds_a_state_folder_and_a_dead_holders_lock_is_taken_over(tmp_path):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from bgsplit_tf.search import state; "
         f"lock = state.StateLock({str(tmp_path)!r}); print('held', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(state_lib.StateInUse, match=f"in use by another search \\(process {holder.pid}\\)"):
            state_lib.StateLock(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "lock").read_text().strip() == str(holder.pid)  # the dead holder's pid stays in the file
    lock = state_lib.StateLock(tmp_path)  # ...and its lock is taken over
    assert (tmp_path / "lock").read_text().strip() == str(os.getpid())
    with pytest.raises(state_lib.StateInUse, match=str(os.getpid())):  # a second opening in this process too
        state_lib.StateLock(tmp_path)
    lock.release()
    state_lib.StateLock(tmp_path).release()
