"""Reading images in Beam workers: a split (or a pool) cut into chunks of positions, each chunk read and
decoded in parallel by tf.data inside one DoFn call, bad images sent to a side output with their reason.

Each worker opens the source once (DoFn.setup) from a picklable reader (SplitReader, PoolReader), so
a job ships the flags that name the data, never the data itself.
"""

from __future__ import annotations

import dataclasses

import apache_beam as beam
import tensorflow as tf

from bgsplit_tf.data import bad_images

BAD = "bad"  # the tag of DecodeChunks's output of images that do not decode
CHUNK_IMAGES = 1000  # images per chunk: the unit of work a worker takes


def chunks(num_images: int) -> list[tuple[int, int]]:
    """(start position, image count) of each chunk of CHUNK_IMAGES of a split of num_images images, in order."""
    chunk_images = CHUNK_IMAGES
    return [(start, min(chunk_images, num_images - start)) for start in range(0, num_images, chunk_images)]


@dataclasses.dataclass(frozen=True)
class SplitReader:
    """One split of the training source, as training.run_inputs.source_of opens it: images keyed by "id".

    config: the TrainConfig; image_size (H, W) and resize_mode (image_files.RESIZE_MODES): the teacher's input view.
    """

    config: object
    image_size: tuple[int, int]
    resize_mode: str
    split: str
    key: str = "id"

    def open(self):
        """(chunk(start, count) -> the encoded examples at those positions, decode(example))."""
        from bgsplit_tf.training import run_inputs

        source = run_inputs.source_of(self.config, self.image_size, self.resize_mode)
        return (lambda start, count: source.encoded_examples(self.split, skip=start).take(count)), source.decode


@dataclasses.dataclass(frozen=True)
class PoolReader:
    """A mining pool (serving.mining.pool_examples's arguments): images keyed by "item" (a file's path, or
    a TFDS id)."""

    images: str
    image_size: tuple[int, int]
    data_dir: str | None
    image_key: str
    id_key: str
    resize_mode: str
    key: str = "item"

    def open(self):
        """(chunk(start, count) -> the encoded examples at those positions, decode(example))."""
        from bgsplit_tf.serving import mining

        source, examples, _ = mining.pool_examples(self.images, self.image_size, self.data_dir, self.image_key,
                                                   self.id_key, self.resize_mode)
        return (lambda start, count: examples.skip(start).take(count)), source.decode


class DecodeChunks(beam.DoFn):
    """(start, count) -> ((position int, key bytes), pixels uint8 [H, W, 3]) for each image of the chunk that
    decodes, in order; each one that does not goes to the BAD output as (position, key str, reason)."""

    def __init__(self, reader):
        self._reader = reader

    def setup(self):
        self._chunk, self._decode = self._reader.open()

    def process(self, chunk):
        start, count = chunk
        key = self._reader.key
        encoded = self._chunk(start, count)
        decoded = encoded.enumerate(start).map(
            lambda position, example: (position, example[key], self._decode(example)["image"]),
            num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
        found = set()
        for position, key_bytes, pixels in decoded.as_numpy_iterator():
            found.add(int(position))
            yield (int(position), bytes(key_bytes)), pixels
        if len(found) < count:  # the few that failed, decoded again alone to say why
            for position, example in encoded.enumerate(start):
                if int(position) not in found:
                    yield beam.pvalue.TaggedOutput(BAD, (int(position), example[key].numpy().decode(),
                                                         bad_images.failure_reason(self._decode, example)))
