"""A run's results: written and read back unchanged, in metrics.json's layout; files of earlier versions
read with what they lacked at what it meant; a file that is not a run's refused naming the file and the
field, and left as it was."""

import dataclasses
import json

import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import image_files, recipes
from bgsplit_tf.evaluation import run_results
from tests import helpers

# The top-level keys of metrics.json, in the order bgsplit-train has written them since phase timing.
LAYOUT = ["test", "val", "task", "history", "bad_images", "train_seconds", "train_images_per_second", "config",
          "operating_points", "input_recipe", "mechanism", "eval_logit_offset", "precision", "wall_seconds",
          "phase_seconds"]


def _every_field() -> run_results.RunResults:
    """Results with every optional record present, an unreachable operating point and unlabeled images."""
    results = helpers.run_results(
        val_mAP=0.625, test_mAP=0.5, config=config_lib.TrainConfig(rare_categories=("fox", "owl"), seed=3),
        chosen_precision="bfloat16", history={"loss": (1.5, 0.75), "val_mAP": (0.5, 0.625)},
        mechanism=run_results.MechanismSummary(teacher_background_rank=None, probe_images=64))
    point = run_results.OperatingPoint
    task = dataclasses.replace(results.task, test=dataclasses.replace(results.task.test, background_fraction=0.5,
                                                                      unlabeled=3))
    return dataclasses.replace(
        results, task=task, bad_images={"train": 2, "validation": 0, "test": 1},
        operating_points={"fox": (point(0.5, 0.25, 0.5, 1.0), point(0.9, None, 0.0, 0.0)),
                          "owl": (point(0.5, 0.125, 0.625, 0.75), point(0.9, 0.875, 1.0, 0.125))},
        input_recipe=recipes.InputRecipe("inception", "--input_recipe=inception", image_files.CENTER_CROP,
                                         "random_resized_crop"),
        eval_logit_offset=(0.0, -1.25, -2.5),
        precision=run_results.TrunkPrecision("bfloat16", "auto", "timed", ("amx_tile", "amx_bf16"),
                                             {"float32": 0.3, "bfloat16": 0.2}, True),
        phase_seconds={"training": 10.0, "evaluation": 2.0})


def test_results_written_read_back_equal_in_metrics_jsons_layout(tmp_path):
    results = _every_field()
    path = tmp_path / run_results.METRICS_FILE
    results.write(path)
    assert run_results.RunResults.read(path) == results
    assert run_results.read_model_folder(path) == results
    on_disk = json.loads(path.read_text())
    assert list(on_disk) == LAYOUT
    assert list(on_disk["task"]) == ["rare_categories", "category_ids", "train", "validation", "test"]
    assert on_disk["task"]["test"] == {"num_examples": 430, "counts": {"background": 400, "fox": 15, "owl": 15},
                                       "unlabeled": 3, "background_fraction": 0.5}
    assert on_disk["operating_points"]["fox"][1] == {"target_precision": 0.9, "threshold": None, "precision": 0.0,
                                                     "recall": 0.0}
    assert on_disk["mechanism"] == {"teacher_background_rank": None, "probe_images": 64}
    assert on_disk["input_recipe"][recipes.RESIZE_MODE_KEY] == image_files.CENTER_CROP
    assert on_disk["config"]["rare_categories"] == ["fox", "owl"] and on_disk["config"]["seed"] == 3
    assert not list(tmp_path.glob("*.partial"))


def test_records_left_out_are_none_and_absent_from_the_file(tmp_path):
    results = helpers.run_results()  # no mechanism probe, no post-hoc offset, no recipe
    results.write(tmp_path / "metrics.json")
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert not {"mechanism", "eval_logit_offset", "input_recipe"} & set(on_disk)
    assert run_results.RunResults.read(tmp_path / "metrics.json") == results


def _earliest_layout() -> dict:
    """metrics.json as the first version wrote it (bd7a56b): no unlabeled counts, wall time, operating
    points, bad images, mechanism, input recipe, precision or phase times; flags of that version only."""
    def split():
        return {"num_examples": 1010, "counts": {"background": 1000, "fox": 5, "owl": 5},
                "background_fraction": 1000 / 1010}

    return {
        "test": {"mAP": 0.25, "ap": {"fox": 0.25, "owl": 0.25}},
        "val": {"mAP": 0.5, "ap": {"fox": 0.5, "owl": 0.5}},
        "task": {"rare_categories": ["fox", "owl"], "category_ids": [1, 3], "train": split(), "validation": split(),
                 "test": split()},
        "history": {"loss": [2.0, 1.0], "val_mAP": [0.25, 0.5]},
        "train_seconds": 120,
        "train_images_per_second": 84.5,
        "config": {"dataset": "bgsplit_shapes", "teacher": "", "aux_weight": 0.1, "epochs": 2, "seed": 0,
                   "lr_decay_epochs": [20, 40, 60, 80], "augment": True, "jit_compile": True},
    }


def test_the_first_versions_file_reads_with_what_it_lacked_at_what_it_meant():
    results = run_results.RunResults.from_json(_earliest_layout())
    assert results.task.train.unlabeled == 0 and results.task.test.counts["fox"] == 5
    assert results.wall_seconds == results.train_seconds == 120.0  # only the training was timed
    assert results.operating_points == {} and results.bad_images == {} and results.phase_seconds == {}
    assert results.mechanism is None and results.input_recipe is None and results.eval_logit_offset is None
    assert results.evaluation_resize_mode == image_files.STRETCH
    assert (results.precision.chosen, results.precision.setting) == ("off", "off")
    assert "predates --mixed_precision" in results.precision.reason
    assert results.history == {"loss": (2.0, 1.0), "val_mAP": (0.25, 0.5)}
    assert results.flag("aux_weight") == 0.1 and results.flag("la_tau") == config_lib.TrainConfig().la_tau


def test_a_file_from_before_the_precision_record_trained_in_its_flags_precision():
    earlier = {**_earliest_layout(), "config": {**_earliest_layout()["config"], "mixed_precision": "bfloat16"}}
    precision = run_results.RunResults.from_json(earlier).precision
    assert (precision.chosen, precision.setting, precision.reason) == ("bfloat16", "bfloat16",
                                                                       "--mixed_precision=bfloat16")


def test_a_precision_record_from_before_auto_timed_the_step_reads():
    """e1f9ea8 recorded chosen, setting, reason and cpu_flags; the step timings came with 643933c."""
    data = {**_earliest_layout(), "precision": {"chosen": "off", "setting": "auto", "reason": "no bf16",
                                                "cpu_flags": []}}
    assert run_results.RunResults.from_json(data).precision == run_results.TrunkPrecision("off", "auto", "no bf16")


def test_keys_of_a_newer_version_are_ignored():
    data = {**_earliest_layout(), "a_later_figure": [1, 2]}
    data["task"]["train"] = {**data["task"]["train"], "a_later_count": 7}
    assert run_results.RunResults.from_json(data) == run_results.RunResults.from_json(_earliest_layout())


@pytest.mark.parametrize("spoil, message", [
    (lambda data: data["task"]["validation"].pop("counts"), "task/validation/counts is missing"),
    (lambda data: data["test"].update(mAP="high"), 'test/mAP is a string \\("high"\\), not a number'),
    (lambda data: data["history"]["loss"].append(None), "history/loss/2 is null, not a number"),
    (lambda data: data.update(operating_points={"fox": [{"target_precision": 0.5}]}),
     "operating_points/fox/0/threshold is missing"),
    (lambda data: data["task"].update(category_ids=[1.5, 3]), r"task/category_ids/0 is a number \(1.5\), not a whole"),
    (lambda data: data.update(wall_seconds=True), "wall_seconds is true, not a number"),
    (lambda data: data["val"]["ap"].update(fox=None), "val/ap/fox is null, not a number"),
])
def test_a_spoilt_file_is_refused_naming_it_and_the_field_and_left_as_it_was(tmp_path, spoil, message):
    data = _earliest_layout()
    spoil(data)
    path = tmp_path / "run" / "metrics.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(ValueError, match=f"{path} is not the metrics.json of a finished bgsplit-train run: {message}"):
        run_results.RunResults.read(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("text, message", [
    ('{"test": {"mAP": 0.5}', "is not JSON"),
    ("[1, 2]", r"its top level is a list \(\[1, 2\]\), not an object"),
])
def test_a_file_that_is_not_a_json_object_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "metrics.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}.*{message}"):
        run_results.RunResults.read(path)
    assert path.read_text() == text


def test_a_labelling_sessions_model_folder_reads_as_its_round(tmp_path):
    path = tmp_path / "metrics.json"
    run_results.LabellingRound(("fox",), 4).write(path)
    assert json.loads(path.read_text()) == {"task": {"rare_categories": ["fox"]}, "round": 4}
    model = run_results.read_model_folder(path)
    assert model == run_results.LabellingRound(("fox",), 4) and model.class_names == ("background", "fox")
    with pytest.raises(ValueError, match=r"labelling session's model \(round 4\), not of a finished bgsplit-train"):
        run_results.RunResults.read(path)


def test_a_recipe_recorded_before_the_resize_mode_had_its_name_reads_as_it_was_evaluated():
    older = json.loads(json.dumps(_every_field().to_json()))  # as read from the file
    recipe = older["input_recipe"]
    recipe[recipes.LEGACY_RESIZE_MODE_KEY] = recipe.pop(recipes.RESIZE_MODE_KEY)
    assert run_results.RunResults.from_json(older).evaluation_resize_mode == image_files.CENTER_CROP
