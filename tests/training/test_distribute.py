"""--strategy on CPU: MirroredStrategy over 2 logical CPU devices computes what one device computes,
and MultiWorkerMirroredStrategy with 2 local worker processes ends with equal weights on both.

Each case runs in fresh processes: logical devices and collective ops must be configured before
TensorFlow runs its first op.
"""

import json
import pytest
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import REPO

_MIRRORED_PROBE = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, {repo!r})
from bgsplit_tf import config as config_lib
from bgsplit_tf.training import build, distribute
from tests import helpers

GLOBAL_BATCH, STEPS = 16, 4
config = config_lib.TrainConfig(jit_compile=False, warmup_epochs=0, learning_rate=0.05, epochs=1,
                                batch_size=GLOBAL_BATCH, strategy="mirrored")
images, targets = helpers.tiny_batch(batch_size=GLOBAL_BATCH * STEPS)


def batches_for(context):
    ds = tf.data.Dataset.from_tensor_slices((images, targets))
    if context is not None:
        ds = ds.shard(context.num_input_pipelines, context.input_pipeline_id)
    size = context.get_per_replica_batch_size(GLOBAL_BATCH) if context else GLOBAL_BATCH
    return ds.batch(size, drop_remainder=True).repeat()


def trained_weights(strategy, initial=None):
    with strategy.scope():
        model = build.build_model(config, helpers.tiny_teacher(), [40, 5, 5], steps_per_epoch=STEPS)
    if initial is not None:
        model.network.set_weights(initial)
    start = [w.numpy() for w in model.network.weights]
    model.fit(distribute.distributed_batches(strategy, batches_for), epochs=1, steps_per_epoch=STEPS, verbose=0)
    return start, [np.asarray(w.numpy()) for w in model.network.weights], model


start, one_device, _ = trained_weights(tf.distribute.get_strategy())
mirrored = distribute.make_strategy("mirrored")
_, two_replicas, model = trained_weights(mirrored, start)
synced = [layer.synchronized for layer in model.network.get_layer("trunk").layers
          if isinstance(layer, tf.keras.layers.BatchNormalization)]
print(json.dumps({{
    "replicas": mirrored.num_replicas_in_sync,
    "max_abs_difference": max(float(np.abs(a - b).max()) for a, b in zip(one_device, two_replicas)),
    "max_abs_change": max(float(np.abs(a - b).max()) for a, b in zip(start, one_device)),
    "batch_norm_synchronized": all(synced) and len(synced) > 0,
}}))
"""


def _last_json_line(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.e2e
def test_mirrored_over_two_logical_cpus_matches_one_device_on_the_global_batch():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", _MIRRORED_PROBE.format(repo=str(REPO))], capture_output=True,
                            text=True, timeout=300, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    report = _last_json_line(result.stdout)
    assert report["replicas"] == 2 and report["batch_norm_synchronized"]
    assert report["max_abs_change"] > 1e-3  # training moved the weights...
    assert report["max_abs_difference"] < 1e-5  # ...and both ways moved them alike (float32 sum order)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
@pytest.mark.e2e
def test_two_local_workers_train_with_multi_worker_mirrored_and_end_equal(tiny_data_dir, tmp_path):
    """Two bgsplit-train processes on 127.0.0.1 (TF_CONFIG), sharing the teacher-target precompute."""
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    out, cache = tmp_path / "run", tmp_path / "cache"
    processes = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "bgsplit_tf.cli.train", f"--flagfile={REPO / 'flags/smoke.cfg'}",
             f"--data_dir={tiny_data_dir}", f"--output_dir={out}", "--strategy=multi_worker",
             f"--teacher_cache_dir={cache}", "--teacher_cache_shard_size=200", "--nojit_compile"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    logs = [p.communicate(timeout=600) for p in processes]
    for process, (_, stderr) in zip(processes, logs):
        assert process.returncode == 0, "\n".join(line for line in stderr.splitlines()
                                                   if "Error" in line or "error" in line)[-3000:]
    import keras

    chief = keras.saving.load_model(out / "model.keras")
    other = keras.saving.load_model(out / "workers" / "1" / "model.keras")
    for a, b in zip(chief.weights, other.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["test"]["mAP"] <= 1.0
    shards = sorted(p.name for p in (cache / "train").glob("*.tfrecord"))
    assert len(shards) > 1  # written by both workers, shard i by worker i % 2
