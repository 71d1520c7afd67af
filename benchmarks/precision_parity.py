"""Does bfloat16 change what training learns? Test mAP in float32 and in bfloat16, paired by seed.

For each setting (the quick-start demo's task, N=1 positive per class; the regime map's central cell,
N=2), each method (fine-tuning; Background Splitting at lambda 0.1, the value validation chose for
both) and each seed, the same run is trained with --mixed_precision=off and =bfloat16; everything else,
the rare task and the batches included, is the same. Reports per setting and method the paired
difference bfloat16 - float32 of test mAP, its mean and 95% bootstrap interval, and the largest
|difference|. Resumable (finished runs are read back), in seed order, so a stopped run leaves complete
pairs:

  python benchmarks/precision_parity.py --flagfile=flags/precision_parity.cfg

writes <output_dir>/parity.csv (one row per run) and parity.md (the table) and prints the table.
"""

import dataclasses
import pathlib

import numpy as np
from absl import app, flags

from bgsplit_tf import config as config_lib
from bgsplit_tf.evaluation import paired
from bgsplit_tf.experiments import comparison
from bgsplit_tf.training import precision
from bgsplit_tf.training import targets_memo

SETTINGS = {"demo_n1": {"positives_per_class": 1}, "central_n2": {"positives_per_class": 2}}
METHODS = {"finetune": {}, "bgsplit": {"aux_weight": 0.1}}
PRECISIONS = (precision.OFF, precision.BFLOAT16)

flags.DEFINE_list("parity_seeds", ["0", "1", "2", "3", "4"], "Seeds (each its own rare task).")
FLAGS = flags.FLAGS


def parity_table(rows: list[dict]) -> str:
    """Markdown: per setting and method, test mAP in each precision (mean +- population std) and the
    paired bfloat16 - float32 difference (mean, 95% bootstrap interval, largest |difference|)."""
    lines = ["| setting | method | seeds | float32 | bfloat16 | bfloat16 - float32 (95% CI) | max abs diff |",
             "|---|---|---|---|---|---|---|"]
    for setting in SETTINGS:
        for method in METHODS:
            by_precision = {p: {r["seed"]: r["test_mAP"] for r in rows
                                if (r["setting"], r["method"], r["precision"]) == (setting, method, p)}
                            for p in PRECISIONS}
            d = paired.Paired.of(by_precision[precision.BFLOAT16], by_precision[precision.OFF])
            if d is None:
                continue
            values = {p: np.array([by_precision[p][s] for s in d.seeds]) for p in PRECISIONS}
            lines.append(f"| {setting} | {method} | {len(d.seeds)} | "
                         + " | ".join(f"{values[p].mean():.3f} +- {values[p].std():.3f}" for p in PRECISIONS)
                         + f" | {d.mean:+.3f} ({d.low:+.3f}, {d.high:+.3f}) | {max(map(abs, d.differences)):.3f} |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    base = config_lib.config_from_flags()
    root = pathlib.Path(base.output_dir)
    memo = targets_memo.TargetsMemo()
    runners = {}
    for setting, overrides in SETTINGS.items():
        for chosen in PRECISIONS:
            runners[setting, chosen] = comparison.Runner(dataclasses.replace(
                base, **overrides, mixed_precision=chosen, output_dir=str(root / setting / chosen)), memo)
    rows = []
    for seed in (int(s) for s in FLAGS.parity_seeds):
        for (setting, chosen), runner in runners.items():
            for method, values in METHODS.items():
                rows.append({"setting": setting, "precision": chosen, **runner.run(method, values, None, seed)})
                table = parity_table(rows)
                (root / "parity.md").write_text(table)
    comparison.write_csv(root / "parity.csv", rows)
    print(table)


if __name__ == "__main__":
    config_lib.define_flags()
    app.run(main)
