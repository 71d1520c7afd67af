"""The comparison's report: methods with the aux loss against without, paired by seed; and the rule that
chooses each method's hyperparameters, with a runner standing in for training (the runs themselves are
trained in tests/e2e)."""

import dataclasses
import json
import subprocess
import sys

import pytest

from bgsplit_tf.experiments import comparison
from tests.conftest import REPO


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


def test_the_run_time_counts_a_tuning_run_that_is_also_final_once():
    final = [{"method": "focal", "hyperparameters": "{\"focal_gamma\": 2.0}", "background_fraction": 0.99, "seed": s,
              "wall_seconds": 100.0} for s in (0, 1)]
    tuning = [final[0], {**final[0], "hyperparameters": "{\"focal_gamma\": 1.0}", "wall_seconds": 50.0}]
    assert comparison.run_time_summary(final, tuning) == "Training runs: 3, 250 s (0.07 h) of wall time summed over them\n"


@pytest.mark.e2e  # absl's flags are global: parsed in a process of their own
def test_every_experiment_flagfile_parses_with_the_experiments_flags():
    """The shipped flagfiles for bgsplit-experiment name only methods, seeds and fractions it accepts
    (absl's validators), and each parses to a training config."""
    names = sorted(path.name for path in (REPO / "flags").glob("paper_comparison*.cfg")) + ["demo.cfg", "real_demo.cfg"]
    script = (
        "import sys\nfrom absl import flags\nfrom bgsplit_tf import config\nfrom bgsplit_tf.cli import experiment\n"
        "config.define_flags(); experiment.define_flags()\n"
        "for path in sys.argv[1:]:\n"
        "    flags.FLAGS.unparse_flags(); flags.FLAGS(['bgsplit-experiment', '--flagfile=' + path])\n"
        "    base = config.config_from_flags()\n"
        "    pinned = [k for k in sorted(experiment.comparison.grid_keys()) if flags.FLAGS[k].present]\n"
        "    print(path.rsplit('/', 1)[1], base.epochs, ','.join(flags.FLAGS.methods), ','.join(flags.FLAGS.background_fractions) or '-', ','.join(pinned) or '-')\n")
    done = subprocess.run([sys.executable, "-c", script, *(str(REPO / "flags" / name) for name in names)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
    assert sorted(printed) == sorted(names)
    assert printed["paper_comparison_full_v2.cfg"][0] == "90"
    assert printed["paper_comparison_full_v2.cfg"][2] == "0.995,0.999,0.9998"
    assert printed["real_demo.cfg"] == ["10", "finetune,bgsplit", "-", "aux_weight"]  # lambda pinned by the flagfile
    assert printed["demo.cfg"] == ["6", "finetune,bgsplit", "-", "aux_weight"]  # the quick start tunes nothing


class _ValidationOnlyRunner:
    """Stands in for training when testing only the selection rule: val mAP per (method, values)."""

    def __init__(self, val_maps):
        self.val_maps, self.calls = val_maps, []

    def run(self, method, values, fraction, seed):
        self.calls.append((method, fraction, seed))
        return {"method": method, "hyperparameters": json.dumps(values, sort_keys=True),
                "val_mAP": self.val_maps[(method, json.dumps(values, sort_keys=True))], "test_mAP": -1.0}

    def run_many(self, jobs, parallel_runs=1):
        return [self.run(*job) for job in jobs]


def test_hyperparameters_are_chosen_on_validation_at_the_tuning_cell():
    val_maps = {("focal", '{"focal_gamma": 2.0}'): 0.2, ("focal", '{"focal_gamma": 1.0}'): 0.3,
                ("bgsplit", '{"aux_weight": 0.01}'): 0.5, ("bgsplit", '{"aux_weight": 0.1}'): 0.4}
    runner = _ValidationOnlyRunner(val_maps)
    grid = comparison.Grid(methods=("finetune", "bgsplit+focal"), seeds=(3, 4), fractions=(0.98, 0.99, 0.999))
    chosen, rows = comparison.choose_hyperparameters(runner, grid)
    assert chosen == {"finetune": {}, "focal": {"focal_gamma": 1.0}, "bgsplit": {"aux_weight": 0.01}}
    assert comparison.method_values("bgsplit+focal", chosen) == {"focal_gamma": 1.0, "aux_weight": 0.01}
    assert {(fraction, seed) for _, fraction, seed in runner.calls} == {(0.99, 3)}  # middle fraction, first seed
    assert len(rows) == 4 and all(r["test_mAP"] == -1.0 for r in rows)
    assert "| focal | {\"focal_gamma\": 1.0} | 0.300 | yes |" in comparison.tuning_summary(rows, chosen)


def test_a_grid_value_given_on_the_command_line_is_used_and_not_tuned():
    val_maps = {("focal", '{"focal_gamma": 2.0}'): 0.2, ("focal", '{"focal_gamma": 1.0}'): 0.3,
                ("bgsplit", '{"aux_weight": 0.3}'): 0.1}
    runner = _ValidationOnlyRunner(val_maps)
    grid = comparison.Grid(methods=("finetune", "bgsplit+focal"), seeds=(0,), pinned={"aux_weight": 0.3})
    chosen, rows = comparison.choose_hyperparameters(runner, grid)
    assert chosen == {"finetune": {}, "focal": {"focal_gamma": 1.0}, "bgsplit": {"aux_weight": 0.3}}
    assert [json.loads(r["hyperparameters"]) for r in rows] == [{"focal_gamma": 2.0}, {"focal_gamma": 1.0}]
    untuned = dataclasses.replace(grid, tune=False)
    chosen, rows = comparison.choose_hyperparameters(runner, untuned)
    assert chosen["bgsplit"] == {"aux_weight": 0.3} and rows == []
    assert 'Values used: focal {"focal_gamma": 2.0}; bgsplit {"aux_weight": 0.3}.' in comparison.tuning_summary(rows, chosen)
