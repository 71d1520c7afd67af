"""float32 against bfloat16 for the networks bgsplit_tf trains, on this machine: the training step that
--mixed_precision=auto times (training.precision_timing), for the embedded network and for
EfficientNet-Lite0 at 128 and 224 px (whole network, and the top stages on the frozen lower trunk's maps).

  python benchmarks/precision_table.py --output=benchmarks/results/precision/<cpu>.json

Prints one row per network: seconds per step in each precision (median of --steps, the two alternating),
float32 / bfloat16 (above 1: bfloat16 is faster), and what auto would choose from it here.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import tensorflow as tf

from bgsplit_tf import config as config_lib
from bgsplit_tf.training import precision, precision_timing

LITE0 = "pretrained:efficientnet_lite0"
NETWORKS = {
    "embedded, 32 px (the quick start's)": {},
    "EfficientNet-Lite0, 128 px, whole network": {"teacher": LITE0, "image_size": 128, "batch_size": 32},
    "EfficientNet-Lite0, 224 px, whole network": {"teacher": LITE0, "image_size": 224, "batch_size": 32},
    "EfficientNet-Lite0, 224 px, top stages on frozen maps": {"teacher": LITE0, "image_size": 224, "batch_size": 32,
                                                             "frozen_through": "block6d_add"},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=precision_timing.TIMED_STEPS)
    parser.add_argument("--output", default="")
    args = parser.parse_args()
    present = tuple(f for f in precision.BFLOAT16_CPU_FLAGS if f in precision.cpu_flags())
    rows = []
    for name, flags in NETWORKS.items():
        config = config_lib.TrainConfig(mixed_precision="off", **flags)
        seconds = precision_timing.step_seconds(config, args.steps)
        choice = precision.timed_choice(seconds, present, cached=False) if present else None
        rows.append({"network": name, "flags": flags, "batch_size": config.batch_size, **seconds,
                     "float32_over_bfloat16": seconds["float32"] / seconds["bfloat16"],
                     "auto_here": choice.chosen if choice else "off (no bfloat16 instructions: not timed)"})
        print(f"{name}: float32 {seconds['float32']:.3f} s, bfloat16 {seconds['bfloat16']:.3f} s per step of "
              f"{config.batch_size}; float32/bfloat16 {rows[-1]['float32_over_bfloat16']:.2f}; auto: "
              f"{rows[-1]['auto_here']}", flush=True)
    report = {"cpu": precision.cpu_model(), "bfloat16_cpu_flags": list(present), "tensorflow": tf.__version__,
              "steps": args.steps, "rows": rows}
    print(json.dumps(report, indent=2))
    if args.output:
        pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
