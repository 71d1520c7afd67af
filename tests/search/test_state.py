"""The search's state folder keeps every label, refuses conflicting ones, and resumes after a kill."""

import json

import pytest

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
    assert list(state_lib.open_state(tmp_path, SETTINGS).labels()) == [("a.jpg", "fox")]


def test_a_folder_of_another_search_is_refused(tmp_path):
    state_lib.open_state(tmp_path, SETTINGS)
    with pytest.raises(ValueError, match="holds another search.*categories"):
        state_lib.open_state(tmp_path, {**SETTINGS, "categories": ["lynx"]})
    assert json.loads((tmp_path / "settings.json").read_text()) == SETTINGS
