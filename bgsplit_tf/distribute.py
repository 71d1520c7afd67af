"""--strategy: one device, the GPUs of one machine, several machines, or a TPU, through tf.distribute.

  default        tf.distribute's default strategy: one device
  mirrored       MirroredStrategy: every GPU of this machine (without GPUs: every logical CPU device)
  multi_worker   MultiWorkerMirroredStrategy: one process per machine, cluster read from TF_CONFIG
  tpu            TPUStrategy on the TPU named by --tpu (empty: the local one)

The model, its optimizer and its metrics are built under strategy.scope(). Keras 3's fit runs the
single-machine strategies; under MultiWorkerMirroredStrategy it fails when it reduces the step's scalar
logs (keras-team/keras#20585), so multi-worker training runs fit_across_workers, a plain tf.function
loop over strategy.run(model.train_step) that drives the same callbacks. Training batches come from
strategy.distribute_datasets_from_function: each input pipeline (one per worker) reads its own shard of
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


def replicas_in_sync() -> int:
    """Replicas of the strategy of the current context (1 outside tf.distribute)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def fit_across_workers(model: keras.Model, batches, epochs: int, steps_per_epoch: int,
                       callbacks: list[keras.callbacks.Callback], verbose: int | str = 2) -> keras.callbacks.History:
    """model.fit for MultiWorkerMirroredStrategy: the same train_step on every replica, the same
    callbacks and epoch logs (each log the mean over replicas), and the History fit returns.

    batches: a distributed dataset (distributed_batches) with at least epochs * steps_per_epoch steps.
    """
    strategy = model.distribute_strategy
    callback_list = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                                 model=model, verbose=verbose, epochs=epochs,
                                                 steps=steps_per_epoch)

    @tf.function
    def train_step(iterator):
        logs = strategy.run(model.train_step, args=(next(iterator),))
        return {name: strategy.reduce("MEAN", value, axis=None) for name, value in logs.items()}

    iterator = iter(batches)
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            logs = train_step(iterator)
            callback_list.on_train_batch_end(step, logs)
        epoch_logs = {name: float(value) for name, value in logs.items()}
        callback_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return model.history
