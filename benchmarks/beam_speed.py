"""The Beam pipelines against the single-process paths on this machine: images/s of the teacher-target
pass and of pool mining, each path on the same images in the same run, and whether their outputs agree.

  python benchmarks/beam_speed.py --images=5000 --output=benchmarks/results/beam_speed.json

The images are Fashion-MNIST's test photographs (Debian's dataset-fashion-mnist), the teacher
EfficientNet-Lite0 (pretrained:efficientnet_lite0, the photos extra) at --image_size. Teacher pass: the
10,000 test images through the single-process pass (the decode pass that scans for bad images and
computes the targets, then the cache) and through beam.teacher_targets, each into a fresh cache. Mining:
the first --pool_images of them written as PNG files to a folder, scored by an export of a network on the
teacher's trunk, by serving.mining and by beam.mining. Each time is the wall time of the whole call,
loading the model and (Beam) starting the worker processes included, as a user waits for it.
"""

from __future__ import annotations

import argparse
import csv
import json
import pathlib
import tempfile
import time

import numpy as np
from PIL import Image

from bgsplit_tf import config as config_lib
from bgsplit_tf.beam import mining as beam_mining, options, teacher_targets as beam_targets
from bgsplit_tf.data import fingerprints, sources, teacher_cache
from bgsplit_tf.models import network as network_lib
from bgsplit_tf.serving import export, mining
from bgsplit_tf.training import precision, run_inputs, targets_memo


def teacher_pass(config: config_lib.TrainConfig, split: str, runner: options.RunnerChoice):
    """(seconds, targets) of the teacher-target pass over `split` into the config's (fresh) cache."""
    started = time.time()
    teacher = run_inputs.teacher_of(config)
    resize_mode = run_inputs.input_recipe_of(config, teacher.input_shape[1:3]).evaluation_resize_mode
    if runner.on_beam:
        targets = beam_targets.precompute_split(config, teacher, resize_mode, split, runner)
    else:
        memo = targets_memo.TargetsMemo()
        source, _ = targets_memo.screened_source_of(config, teacher, resize_mode, memo, (split,))
        targets = memo.get(source, split, config, teacher)
    return time.time() - started, targets


def write_pool(folder: pathlib.Path, count: int) -> None:
    """The first `count` Fashion-MNIST test photographs as PNG files."""
    folder.mkdir(parents=True)
    examples = sources.open_source("fashion_mnist").examples("test").take(count)
    for i, example in enumerate(examples.as_numpy_iterator()):
        Image.fromarray(example["image"]).save(folder / f"{i:06d}.png")


def ranked(path: pathlib.Path) -> list[tuple[str, str, str]]:
    with open(path) as f:
        return [(row["class"], row["rank"], row["item"]) for row in csv.DictReader(f)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool_images", type=int, default=10000)
    parser.add_argument("--image_size", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/beam_speed.json")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="beam_speed_"))
    runner = options.RunnerChoice("DirectRunner", (f"--direct_num_workers={args.workers}",))
    split = "test"
    results = {"cpu": precision.cpu_model(), "pool_images": args.pool_images, "image_size": args.image_size,
               "workers": args.workers}

    def config(name):
        # The measured split as the training split: its scan for bad images is the teacher's pass too.
        return config_lib.TrainConfig(dataset="fashion_mnist", teacher="pretrained:efficientnet_lite0",
                                      image_size=args.image_size, teacher_cache_dir=str(work / name),
                                      train_split=split,
                                      output_dir=str(work / "run"))

    seconds = {}
    for name, choice in (("single_process", options.RunnerChoice()), ("beam", runner)):
        seconds[name], targets = teacher_pass(config(name), split, choice)
        results[f"teacher_pass_{name}"] = {"seconds": seconds[name], "images_per_second": len(targets.ids) / seconds[name]}
        print(name, "teacher pass", results[f"teacher_pass_{name}"], flush=True)
    expected = fingerprints.read(teacher_cache.split_directory(work / "single_process", split) /
                                 fingerprints.FINGERPRINT_FILE)
    a, b = (teacher_cache.load(teacher_cache.split_directory(work / name, split), expected)
            for name in ("single_process", "beam"))
    results["teacher_pass_agreement"] = {"ids_equal": bool((a.ids == b.ids).all()),
                                         "indices_equal": bool((a.indices == b.indices).all()),
                                         "max_abs_prob_difference": float(np.abs(a.probs - b.probs).max())}
    print(results["teacher_pass_agreement"], flush=True)

    write_pool(work / "pool", args.pool_images)
    teacher = run_inputs.teacher_of(config("export"))
    network = network_lib.network_from_teacher(teacher, num_rare=2)
    export_path = export.export_saved_model(network, ("background", "a", "b"), work / "export")
    for name in ("single_process", "beam"):
        out, started = work / f"mined_{name}", time.time()
        summary = (beam_mining.mine(export_path, str(work / "pool"), out, runner) if name == "beam"
                   else mining.mine(export_path, str(work / "pool"), out))
        wall = time.time() - started
        results[f"mining_{name}"] = {"seconds": wall, "images_per_second": summary["scored"] / wall}
        print(name, "mining", results[f"mining_{name}"], flush=True)
    results["mining_rankings_equal"] = ranked(work / "mined_single_process" / "ranked.csv") == ranked(
        work / "mined_beam" / "ranked.csv")
    for job in ("teacher_pass", "mining"):
        results[f"{job}_beam_over_single"] = (results[f"{job}_beam"]["images_per_second"] /
                                              results[f"{job}_single_process"]["images_per_second"])
    print(json.dumps(results, indent=2))
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
