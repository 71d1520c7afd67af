"""The comparison's report: methods with the aux loss against without, paired by seed (the runs
themselves are trained in tests/e2e)."""

import pytest

from bgsplit_tf.experiments import comparison


def _rows(method: str, fraction: float, maps: list[float]) -> list[dict]:
    return [{"method": method, "background_fraction": fraction, "seed": seed, "test_mAP": value,
             "val_mAP": value, "train_background_fraction": fraction} for seed, value in enumerate(maps)]


def test_each_method_is_paired_with_its_aux_loss_twin_by_seed():
    rows = (_rows("finetune", 0.98, [0.5, 0.6, 0.7]) + _rows("bgsplit", 0.98, [0.6, 0.6, 0.8])
            + _rows("focal", 0.98, [0.5, 0.5, 0.5]) + _rows("bgsplit+focal", 0.98, [0.4, 0.5]) + _rows("resample", 0.98, [0.9])
            + _rows("finetune", 0.999, [0.2, 0.3, 0.4]) + _rows("bgsplit", 0.999, [0.1, 0.3, 0.4]))
    pairs = comparison.paired_rows(rows)
    assert [(p["pair"], p["background_fraction"], p["pairs"], p["ahead"]) for p in pairs] == [
        ("bgsplit - finetune", 0.98, 3, 2), ("bgsplit - finetune", 0.999, 3, 0), ("bgsplit+focal - focal", 0.98, 2, 0)]
    assert pairs[0]["differences"] == "+0.1000 +0.0000 +0.1000"
    assert pairs[0]["mean"] == pytest.approx(0.2 / 3)
    table = comparison.paired_table(pairs)
    assert table.splitlines()[0] == "| test mAP difference | 98.00% background | 99.90% background |"
    assert "| bgsplit+focal - focal | -0.050 (-0.100, +0.000), ahead 0/2 [-0.1000 +0.0000] | - |" in table


def test_a_grid_without_both_sides_of_a_pair_has_no_paired_rows():
    assert comparison.paired_rows(_rows("finetune", 0.98, [0.5]) + _rows("focal", 0.98, [0.4])) == []
