"""Reads TensorBoard event files back as TensorBoard itself loads them (its plugin event accumulator)."""

import dataclasses
import pathlib

import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import plugin_event_accumulator


@dataclasses.dataclass
class Series:
    """One tag of one TensorBoard run: the plugin that draws it, and its (step, value) points."""

    plugin: str
    steps: list[int]
    values: list[np.ndarray]


def read_run(log_dir: pathlib.Path) -> dict[str, Series]:
    """{tag: Series} of every summary in the event files of log_dir (one TensorBoard run)."""
    accumulator = plugin_event_accumulator.EventAccumulator(
        str(log_dir), size_guidance={plugin_event_accumulator.TENSORS: 0})  # 0: keep every step
    accumulator.Reload()
    return {tag: Series(accumulator.SummaryMetadata(tag).plugin_data.plugin_name,
                        [event.step for event in accumulator.Tensors(tag)],
                        [tf.make_ndarray(event.tensor_proto) for event in accumulator.Tensors(tag)])
            for tag in accumulator.Tags()[plugin_event_accumulator.TENSORS]}


def image_shape(series: Series) -> tuple[int, ...]:
    """The [H, W, C] shape of an image summary's last picture (stored as width, height, PNG bytes)."""
    return tuple(tf.io.decode_png(series.values[-1][2]).shape)
