"""The regime map's statistics, cells, choices and ledger, with a fake trainer where a run's figures
are a known function of its config (the real runs are what `bgsplit-regime-map` does)."""

import dataclasses
import json

import pytest

from bgsplit_tf import config as config_lib, faults
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.experiments import ledger, regime_map
from bgsplit_tf.training import precision
from tests import helpers


@pytest.mark.parametrize("low, high, word", [(0.01, 0.2, "beats"), (-0.2, -0.01, "hurts"), (-0.1, 0.1, "tie")])
def test_verdict(low, high, word):
    assert word in regime_map.verdict(low, high, 5)
    assert regime_map.verdict(low, high, 4) == "too few pairs yet (4 < 5)"


def test_cells_vary_one_axis_at_a_time():
    quick = regime_map.cells(regime_map.TIERS["quick"])
    central = quick[0]
    assert central.axis == "central"
    for cell in quick[1:]:
        if cell.axis == "linear probe":
            assert cell.ft is None and cell.bg.method == "linear_probe"
            continue
        changed = {f.name for f in dataclasses.fields(central.bg) if getattr(cell.bg, f.name) != getattr(central.bg, f.name)}
        assert len(changed) == 1, (cell.axis, changed)
    assert not any(c.axis == "paper ratio" for c in quick)
    assert sum(c.axis == "paper ratio" for c in regime_map.cells(regime_map.TIERS["full"])) == 2


def _fake_trainer(calls):
    """Val and test mAP from the config: BG gains 0.05 per unit of lambda up to 0.3, lr 0.1 is best."""
    def train(config):
        calls.append(config)
        score = 0.4 + (0.1 if config.learning_rate == 0.1 else 0) + 0.05 * min(config.aux_weight, 0.3) / 0.3
        score += 0.01 * config.seed + (0.02 if config.epochs > 10 else 0)
        history = {"loss": [1.0] * config.epochs, "aux_loss": [0.5] * config.epochs,
                   "mech_cka_to_teacher": [0.9] * config.epochs, "val_mAP": [score], "val_epoch": [config.epochs]}
        return helpers.run_results(score, score + 0.001, ["a"], config, precision.resolve(config.mixed_precision).chosen,
                                   history, run_results.MechanismSummary(20.0, 100), wall_seconds=1.0)
    return train


def test_a_ledger_row_records_the_precision_the_run_trained_in():
    config = config_lib.TrainConfig(mixed_precision="auto", epochs=2, seed=3)
    results = helpers.run_results(config=config, chosen_precision="bfloat16")  # trained where auto meant bfloat16
    row = ledger.ledger_row("finetune/seed_3", regime_map.Setting("finetune", learning_rate=0.1), config, results, seed=3)
    assert "--mixed_precision=bfloat16" in row["flags"]


def test_map_tunes_on_validation_then_runs_every_cell_and_resumes_from_its_ledger(tmp_path):
    base = config_lib.TrainConfig(output_dir=str(tmp_path / "runs"))
    tier = dataclasses.replace(regime_map.TIERS["quick"], seeds=(0, 1, 2, 3, 4), extra_seeds=())
    calls = []
    summaries, regime = regime_map.run_map(base, tier, tmp_path / "results", _fake_trainer(calls))
    assert regime.ft_choice[("fine", 5, 2)] == (0.1, "long")
    assert regime.bg_lambda == 0.3  # the first of the best (0.3 and 1 tie): the order listed
    central = summaries[0]
    assert central["verdict"] == "BG beats tuned FT" and central["pairs"] == 5
    assert central["diff_mean"] == pytest.approx(0.05)
    probe = [s for s in summaries if s["axis"] == "linear probe"]
    assert len(probe) == 3 and all("diff_mean" not in s for s in probe)
    assert all(c.freeze_trunk for c in calls if "linear_probe" in c.output_dir)
    keys = [c.output_dir for c in calls]
    assert len(keys) == len(set(keys))  # a setting shared by several cells is trained once

    again = []
    regime_map.run_map(base, tier, tmp_path / "results", _fake_trainer(again))
    assert again == []  # everything came from the ledger

    ledger = tmp_path / "results" / "ledger.jsonl"
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    rows[0]["flags"] = [f for f in rows[0]["flags"] if not f.startswith("--weight_decay")] + ["--weight_decay=0.5"]
    ledger.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(ValueError, match="other flags.*weight_decay"):
        regime_map.run_map(base, tier, tmp_path / "results", _fake_trainer([]))


def test_outputs_are_written(tmp_path):
    from bgsplit_tf.cli import regime_map as cli

    base = config_lib.TrainConfig(output_dir=str(tmp_path / "runs"))
    tier = dataclasses.replace(regime_map.TIERS["quick"], seeds=(0, 1), extra_seeds=())
    summaries, regime = regime_map.run_map(base, tier, tmp_path / "results", _fake_trainer([]))
    cli.write_outputs(tmp_path / "results", summaries, regime, "test map")
    table = (tmp_path / "results" / "results.md").read_text()
    assert "lambda 0.3" in table and "| central |" in table
    for name in ("results.csv", "tuning.csv", "regime_map.png", "mechanism.png"):
        assert (tmp_path / "results" / name).stat().st_size > 0


def test_a_report_of_a_partial_ledger_trains_nothing_and_shows_what_finished(tmp_path):
    base = config_lib.TrainConfig(output_dir=str(tmp_path / "runs"))
    tier = dataclasses.replace(regime_map.TIERS["quick"], seeds=(0, 1, 2), extra_seeds=())
    regime_map.run_map(base, tier, tmp_path / "results", _fake_trainer([]))
    ledger = tmp_path / "results" / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    ledger.write_text("\n".join(lines[:20]) + "\n")  # the tuning runs (16) and a few more
    summaries, regime = regime_map.report_map(base, tier, tmp_path / "results")
    assert regime.bg_lambda == 0.3 and len(regime.ledger.rows) == 20
    assert summaries and summaries[0]["axis"] == "central"
    assert all(s["tasks"] <= 3 for s in summaries)
    assert summaries[0]["verdict"].startswith("too few pairs")
    ledger.write_text("\n".join(lines[:5]) + "\n")  # tuning unfinished: nothing to report yet
    with pytest.raises(faults.Fault, match="has finished its tuning runs yet"):
        regime_map.report_map(base, tier, tmp_path / "results")
    ledger.write_text("")
    with pytest.raises(faults.Fault, match="holds no finished runs"):
        regime_map.report_map(base, tier, tmp_path / "results")
