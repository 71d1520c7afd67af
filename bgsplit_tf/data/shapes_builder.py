"""TFDS builder of the embedded benchmark `bgsplit_shapes` (rendered locally, nothing downloaded).

Importing this module registers the builder, so `tfds.load("bgsplit_shapes", data_dir=...)` finds it.
Every example carries two label spaces and a stable id:

  image    uint8 [32, 32, 3]
  species  ClassLabel(256): fine-grained categories; rare tasks are drawn from these
  concept  ClassLabel(16):  coarse shape concepts; the teacher is pre-trained on these only
  id       Text: "<split>/<index>", stable for a given builder version and config

Splits: `pretrain` (teacher pre-training, disjoint from the rest), `train`, `validation`, `test`.
Each example is rendered from its own seed (version seed, split, index), so the data is identical
on every machine for a given version.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from bgsplit_tf.data import shapes

_SPLIT_SEEDS = {"pretrain": 1, "train": 2, "validation": 3, "test": 4}


@dataclasses.dataclass
class ShapesConfig(tfds.core.BuilderConfig):
    """Split sizes of one configuration of the benchmark."""

    split_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    image_size: int = 32


class BgsplitShapes(tfds.core.GeneratorBasedBuilder):
    """Procedural shapes: 256 species in 16 concepts, for rare-category experiments offline."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release: 16 shape concepts x 4 colours x 4 patterns."}
    BUILDER_CONFIGS = [
        ShapesConfig(
            name="default",
            description="32 px; 16,384 pretrain, 10,240 train, 2,560 validation, 5,120 test.",
            split_sizes={"pretrain": 16384, "train": 10240, "validation": 2560, "test": 5120},
        ),
        ShapesConfig(
            name="tiny",
            description="32 px; a few hundred images per split, for tests.",
            split_sizes={"pretrain": 512, "train": 768, "validation": 512, "test": 512},
        ),
    ]

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3)),
                    "species": tfds.features.ClassLabel(names=shapes.SPECIES_NAMES),
                    "concept": tfds.features.ClassLabel(names=shapes.CONCEPTS),
                    "id": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "species"),
            homepage="https://arxiv.org/abs/2008.12873",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: every image is rendered here.
        return {
            split: self._generate_examples(split, count)
            for split, count in self.builder_config.split_sizes.items()
        }

    def _generate_examples(self, split: str, count: int):
        version_seed = int(str(self.VERSION).replace(".", ""))
        split_seed = _SPLIT_SEEDS[split]
        species = shapes.balanced_species(count, np.random.default_rng([version_seed, split_seed]))
        size = self.builder_config.image_size
        for index, species_index in enumerate(species):
            rng = np.random.default_rng([version_seed, split_seed, index])
            example_id = f"{split}/{index:06d}"
            yield example_id, {
                "image": shapes.render(int(species_index), rng, size),
                "species": int(species_index),
                "concept": int(shapes.CONCEPT_OF_SPECIES[species_index]),
                "id": example_id,
            }
