"""--strategy: one device, the GPUs of one machine, several machines, or a TPU, through tf.distribute.

  default        tf.distribute's default strategy: one device
  mirrored       MirroredStrategy: every GPU of this machine (without GPUs: every logical CPU device)
  multi_worker   MultiWorkerMirroredStrategy: one process per machine, cluster read from TF_CONFIG
  tpu            TPUStrategy on the TPU named by --tpu (empty: the local one)

The model, its optimizer and its metrics are built under strategy.scope(). Training (training_loop)
steps with the model's Keras train function, except under MultiWorkerMirroredStrategy, where Keras 3
fails to reduce the step's scalar logs (keras-team/keras#20585): there it steps with
worker_train_function, a plain tf.function over strategy.run(model.train_step). Training batches come
from strategy.distribute_datasets_from_function: each input pipeline (one per worker) reads its own shard of
the split, by InputContext, and batches global_batch / replicas images per replica. The train step
divides each replica's mean loss by the number of replicas, so the all-reduced (summed) gradient is the
gradient of the mean over the global batch, and batch normalisation is synchronised across replicas:
N replicas compute what one device computes on the global batch.
"""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    """The tf.distribute strategy `name` (one of STRATEGIES)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":  # every GPU; with none, every logical CPU device (how the tests run it)
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"--strategy={name!r} is not one of {STRATEGIES}")


def is_distributed(strategy: tf.distribute.Strategy) -> bool:
    """Whether batches are split across several replicas or workers."""
    return strategy.num_replicas_in_sync > 1 or worker_of(strategy)[1] > 1


def worker_of(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(this worker's index, number of workers): (0, 1) outside multi-worker training."""
    resolver = getattr(strategy, "cluster_resolver", None)
    spec = resolver.cluster_spec().as_dict() if resolver is not None else {}
    workers = len(spec.get("worker", [])) + len(spec.get("chief", []))
    if workers <= 1:
        return 0, 1
    index = resolver.task_id + (len(spec.get("chief", [])) if resolver.task_type == "worker" else 0)
    return int(index), workers


def distributed_batches(strategy: tf.distribute.Strategy,
                        batches_for: Callable[[tf.distribute.InputContext | None], tf.data.Dataset]):
    """batches_for(None) (global batches) on one device, else a distributed dataset whose pipelines
    each call batches_for(input_context) for their shard and per-replica batch size."""
    if not is_distributed(strategy):
        return batches_for(None)
    return strategy.distribute_datasets_from_function(batches_for)


def worker_train_function(model: keras.Model) -> Callable:
    """The train function (iterator -> logs) for MultiWorkerMirroredStrategy, in place of Keras's:
    model.train_step on every replica, each log the mean over replicas (keras-team/keras#20585)."""
    strategy = model.distribute_strategy

    @tf.function
    def train_function(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    return train_function
