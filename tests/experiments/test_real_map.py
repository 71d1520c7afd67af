"""The real map's cells, choices, pairing by task and ledger, with a fake trainer whose figures are a known
function of the config; and one real run of each kind of setting the map trains, on a frozen trunk."""

import dataclasses
import json

import pytest

from bgsplit_tf import config as config_lib, faults
from bgsplit_tf.experiments import real_map
from bgsplit_tf.training import precision, run as run_lib
from tests import helpers


def _fake_trainer(calls):
    """Val and test mAP from the config: lr 0.03 is best, BG gains 0.04 per unit of lambda up to 0.3, and
    category c adds 0.02 * c (tasks differ in difficulty, which pairing by task cancels)."""
    def train(config):
        calls.append(config)
        category = int(config.rare_categories[0])
        score = 0.3 + (0.1 if config.learning_rate == 0.03 else 0) + 0.04 * min(config.aux_weight, 0.3) / 0.3
        score += 0.02 * category + 0.001 * config.positives_per_class
        history = {"loss": [1.0] * config.epochs, "aux_loss": [0.5] * config.epochs,
                   "mech_cka_to_teacher": [0.9] * config.epochs, "val_mAP": [score], "val_epoch": [config.epochs]}
        return helpers.run_results(score, score + 0.001, [f"category {category}"], config,
                                   precision.resolve(config.mixed_precision).chosen, history, wall_seconds=2.0)
    return train


def test_cells_follow_the_design():
    cells = real_map.cells()
    central = cells[0]
    assert central.axis == "central" and len(central.tasks) == 10 and central.bg.aux_weight is None
    assert {c.tasks for c in cells if c.axis != "central"} == {real_map.EVERY_CATEGORY, real_map.EVEN_CATEGORIES,
                                                             real_map.CATEGORY_PAIRS}
    for cell in cells:
        if cell.ft is not None:  # both methods share everything but the aux loss
            assert dataclasses.replace(cell.bg, method="finetune", aux_weight=0.0, aux_targets="hard") == cell.ft
    assert all(len(t.categories) == 2 for t in real_map.CATEGORY_PAIRS)
    assert not set(real_map.TUNING_TASKS) & {t for c in cells for t in c.tasks}  # tuning never on reported tasks


def test_map_tunes_on_validation_pairs_by_task_and_resumes_from_its_ledger(tmp_path):
    base = config_lib.TrainConfig(output_dir=str(tmp_path / "runs"), epochs=3)
    calls = []
    summaries, real = real_map.run_map(base, tmp_path / "results", _fake_trainer(calls))
    assert real.ft_learning_rate == 0.03
    assert real.bg_lambda == 0.3  # 0.3 and 1.0 tie: the smaller
    central = summaries[0]
    assert central["tasks"] == central["pairs"] == 10 and central["verdict"] == "BG beats tuned FT"
    assert central["diff_mean"] == pytest.approx(0.04)  # the category's difficulty cancels in the pairs
    assert central["bg_std"] > 0.05
    keys = [c.output_dir for c in calls]
    assert len(keys) == len(set(keys))  # a run shared by cells (the chosen lambda's) trains once
    probe = [c for c in calls if c.freeze_trunk]
    assert len(probe) == 10 and all(c.aux_weight == 0 for c in probe)
    pairs = [c for c in calls if c.num_rare == 2]
    assert {c.rare_categories for c in pairs} == {("0", "1"), ("2", "3"), ("4", "5"), ("6", "7"), ("8", "9")}
    assert {c.seed for c in calls if c.rare_categories in (("0",), ("5",)) and c.seed == 100}  # tuning tasks
    assert len(calls) == 134  # the design's count: 14 tuning runs and 120 for the cells

    again = []
    real_map.run_map(base, tmp_path / "results", _fake_trainer(again))
    assert again == []

    ledger = tmp_path / "results" / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    row = json.loads(lines[0])
    assert row["task"] == "c0-s100" and row["categories"] == [0]
    row["flags"] = [f for f in row["flags"] if not f.startswith("--momentum")] + ["--momentum=0.5"]
    ledger.write_text("\n".join([json.dumps(row), *lines[1:]]) + "\n")
    with pytest.raises(ValueError, match="other flags.*momentum"):
        real_map.run_map(base, tmp_path / "results", _fake_trainer([]))


def test_a_partial_ledger_is_reported_as_far_as_it_goes_and_outputs_are_written(tmp_path):
    from bgsplit_tf.cli import real_map as cli

    base = config_lib.TrainConfig(output_dir=str(tmp_path / "runs"), epochs=3)
    real_map.run_map(base, tmp_path / "results", _fake_trainer([]))
    ledger = tmp_path / "results" / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:14 + 12]) + "\n")  # tuning and 6 central tasks of each method
    summaries, real = real_map.report_map(base, tmp_path / "results")
    assert [s["axis"] for s in summaries[:1]] == ["central"] and summaries[0]["pairs"] == 6
    cli.write_outputs(tmp_path / "results", summaries, real, "test map")
    report = (tmp_path / "results" / "results.md").read_text()
    assert "| central |" in report and "lambda 0.3" in report and "category 5" in report
    for name in ("results.csv", "tuning.csv", "per_category.csv", "real_map.png", "mechanism.png"):
        assert (tmp_path / "results" / name).stat().st_size > 0
    ledger.write_text("\n".join(lines[:5]) + "\n")  # tuning unfinished: nothing to report yet
    with pytest.raises(faults.Fault, match="has finished its tuning runs yet"):
        real_map.report_map(base, tmp_path / "results")


@pytest.mark.e2e  # a full training run each
@pytest.mark.parametrize("setting", [
    real_map.Setting("linear_probe", learning_rate=0.03),
    real_map.Setting("bgsplit", positives=1, learning_rate=0.03, aux_weight=0.3, aux_targets="soft",
                     rare_batch_fraction=0.1),
    real_map.Setting("bgsplit", learning_rate=0.03, aux_weight=0.1, logit_adjustment="loss"),
], ids=["linear_probe", "soft_resampled", "logit_adjusted"])
def test_each_kind_of_run_the_map_makes_trains_on_a_frozen_trunk(setting, tiny_data_dir, tmp_path):
    base = config_lib.TrainConfig(dataset="bgsplit_shapes/tiny", data_dir=tiny_data_dir, epochs=1, batch_size=32,
                                  warmup_epochs=0, frozen_through="stage3_block1_out", freeze_batch_norm=True,
                                  input_recipe="pad_crop", checkpoint_steps=0, output_dir=str(tmp_path))
    config = real_map.run_config(base, setting, real_map.Task((1, 3)), tmp_path)  # in every tiny split
    results = run_lib.run_training(config, verbose=0)
    assert results.task.train.counts and 0.0 <= results.test.mAP <= 1.0
    assert len(results.task.rare_categories) == 2
