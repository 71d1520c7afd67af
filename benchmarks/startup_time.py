"""Wall time from a run's start to its first training batch on a folder of photo-sized JPEGs.

Measures what bgsplit-train does before step 1, by phase: prepare_run (the bad-image scan, the
teacher's targets, the rare task, the batches), the training gallery, and the first training batch
(which, with decoded images kept in memory, fills that cache first). The model's build is left out
(the same work whatever the input path). Runs against whichever bgsplit_tf is importable, so the same
command measures two versions (PYTHONPATH=<a checkout>):

  python benchmarks/startup_time.py --root=/tmp/photos --images=5000 [--teacher_cache_dir=DIR]

writes the folder first if it is empty (speed.photo_pipeline.write_photo_folder: 500x375 JPEGs, train
plus a quarter as many each for validation and test) and prints one JSON line.
"""

import inspect
import json
import pathlib
import sys
import time

from absl import app, flags

flags.DEFINE_string("root", "/tmp/bgsplit_photos", "The JPEG folder (written if empty).")
flags.DEFINE_integer("images", 5000, "Training images of the folder written.")
flags.DEFINE_string("teacher_cache_dir", "", "Passed to the run (a second call re-runs with the cache).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from bgsplit_tf import config as config_lib
    from bgsplit_tf.training import prepare
    from bgsplit_tf.training import targets_memo

    root = pathlib.Path(FLAGS.root)
    if not root.exists() or not any(root.iterdir()):
        from bgsplit_tf.speed import photo_pipeline

        photo_pipeline.write_photo_folder(root, FLAGS.images, evaluation_splits=True)
    config = config_lib.TrainConfig(dataset=f"folder:{root}", teacher="applications:mobilenetv3small",
                                    teacher_weights="none", image_size=224, num_rare=5, positives_per_class=5,
                                    batch_size=64, teacher_cache_dir=FLAGS.teacher_cache_dir,
                                    output_dir="/tmp/bgsplit_startup_run")
    import keras

    keras.utils.set_random_seed(0)  # the same random teacher weights (--teacher_weights=none) in every call
    phases, started = {}, time.time()
    run = prepare.prepare_run(config, targets_memo.TargetsMemo())
    phases["prepare_run"] = time.time() - started
    mark = time.time()
    if "source" in inspect.signature(prepare.task_gallery).parameters:  # this version
        prepare.task_gallery(run.task, run.source, config)
    else:  # versions that took the decoded training examples
        prepare.task_gallery(run.task, run.source.examples(config.train_split), config)
    phases["gallery"] = time.time() - mark
    mark = time.time()
    next(iter(run.train_batches))
    phases["first_batch"] = time.time() - mark
    print(json.dumps({"seconds_to_first_batch": time.time() - started, "phases": phases,
                      "input_recipe": getattr(getattr(run, "input_recipe", None), "recipe", "pad_crop (fixed)"),
                      "images": {split: len(list((root / split).rglob("*.jpg"))) for split in
                                 ("train", "validation", "test")},
                      "teacher_cache_dir": FLAGS.teacher_cache_dir, "python": sys.version.split()[0]}))


if __name__ == "__main__":
    app.run(main)
