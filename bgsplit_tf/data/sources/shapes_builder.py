"""TFDS builder of the embedded benchmark `bgsplit_shapes` (rendered locally, nothing downloaded).

Importing this module registers the builder, so `tfds.load("bgsplit_shapes", data_dir=...)` finds it.
Two versions (see shapes.WORLDS), both loadable (`bgsplit_shapes:1.0.0` reproduces earlier results):

  2.0.0 (default): 768 species (16 shapes x 8 hues x 6 patterns). `pretrain` holds only the 384
    teacher species, `train`/`validation`/`test` only the 384 target species, so the teacher never
    sees a category a rare task can draw (shapes.WORLD_V2).
  1.0.0: 256 species (16 shapes x 4 colours x 4 patterns), every species in every split.

Every example carries its label spaces and a stable id:

  image    uint8 [32, 32, 3]
  species  ClassLabel: fine-grained categories; rare tasks are drawn from these
  concept  ClassLabel(16): the object's shape
  colour, pattern  ClassLabel (2.0.0 only): the other two attributes
  id       Text: "<split>/<index>", stable for a given builder version and config

Each example is rendered from its own seed (version seed, split, index), so the data is identical
on every machine for a given version.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from bgsplit_tf.data.sources import shapes

_SPLIT_SEEDS = {"pretrain": 1, "train": 2, "validation": 3, "test": 4}


@dataclasses.dataclass
class ShapesConfig(tfds.core.BuilderConfig):
    """Split sizes of one configuration of the benchmark."""

    split_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    image_size: int = 32


class BgsplitShapes(tfds.core.GeneratorBasedBuilder):
    """Procedural shapes: 256 species in 16 concepts, for rare-category experiments offline."""

    VERSION = tfds.core.Version("2.0.0")
    SUPPORTED_VERSIONS = [tfds.core.Version("1.0.0")]
    RELEASE_NOTES = {
        "2.0.0": "768 species (16 shapes x 8 hues x 6 patterns) split into 384 teacher species (pretrain "
                 "only) and 384 target species (train, validation, test); larger splits.",
        "1.0.0": "First release: 16 shape concepts x 4 colours x 4 patterns.",
    }
    BUILDER_CONFIGS = [
        ShapesConfig(
            name="default",
            description="32 px. 2.0.0: 24,576 pretrain, 16,384 train, 4,096 validation, 16,384 test. "
                        "1.0.0: 16,384 pretrain, 10,240 train, 2,560 validation, 5,120 test.",
            split_sizes={"pretrain": 24576, "train": 16384, "validation": 4096, "test": 16384},
        ),
        ShapesConfig(
            name="tiny",
            description="32 px; a few hundred images per split, for tests.",
            split_sizes={"pretrain": 512, "train": 768, "validation": 512, "test": 512},
        ),
    ]
    # Version 1's default split sizes (its tiny config is the same in both versions).
    _V1_DEFAULT_SIZES = {"pretrain": 16384, "train": 10240, "validation": 2560, "test": 5120}

    @property
    def canonical_version(self) -> tfds.core.Version:
        """The version being built. TFDS generates only its canonical (newest) version, to protect data
        that came from elsewhere; every version here is rendered by this code, so any can be generated."""
        return getattr(self, "_version", None) or self.VERSION

    @property
    def world(self) -> shapes.World:
        """The attribute tables of the version being built or read."""
        return shapes.WORLDS[self.version.major]

    def _split_sizes(self) -> dict[str, int]:
        if self.version.major == 1 and self.builder_config.name == "default":
            return self._V1_DEFAULT_SIZES
        return self.builder_config.split_sizes

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        features = {
            "image": tfds.features.Image(shape=(size, size, 3)),
            "species": tfds.features.ClassLabel(names=self.world.species_names),
            "concept": tfds.features.ClassLabel(names=shapes.CONCEPTS),
            "id": tfds.features.Text(),
        }
        if self.version.major >= 2:
            features["colour"] = tfds.features.ClassLabel(names=[name for name, _ in self.world.colours])
            features["pattern"] = tfds.features.ClassLabel(names=self.world.patterns)
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "species"),
            homepage="https://arxiv.org/abs/2008.12873",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing to download: every image is rendered here.
        return {
            split: self._generate_examples(split, count)
            for split, count in self._split_sizes().items()
        }

    def _generate_examples(self, split: str, count: int):
        version_seed = int(str(self.version).replace(".", ""))
        split_seed = _SPLIT_SEEDS[split]
        world = self.world
        species = shapes.balanced_species(count, np.random.default_rng([version_seed, split_seed]),
                                          world.species_for_split(split))
        size = self.builder_config.image_size
        for index, species_index in enumerate(species):
            rng = np.random.default_rng([version_seed, split_seed, index])
            example_id = f"{split}/{index:06d}"
            concept, colour, pattern = (int(a) for a in world.attributes[species_index])
            example = {
                "image": shapes.render(int(species_index), rng, size, world),
                "species": int(species_index),
                "concept": concept,
                "id": example_id,
            }
            if self.version.major >= 2:
                example.update(colour=colour, pattern=pattern)
            yield example_id, example
