"""Procedural renderer behind the embedded benchmark (pure NumPy, no TensorFlow).

Every image shows one object on a cluttered background. The object belongs to a fine-grained
*species*: a shape (its *concept*), a hue and a surface pattern. Two worlds, one per major version
of the TFDS builder, share the renderer and differ in their attribute tables:

  version 1 (WORLD_V1): 16 shapes x 4 colours x 4 patterns = 256 species, every species everywhere;
  version 2 (WORLD_V2): 16 shapes x 8 hues x 6 patterns = 768 species, split like a checkerboard
    into 384 *teacher species* (shape + hue + pattern index even), the only ones in the `pretrain`
    split, and 384 *target species* (odd), the only ones in `train`, `validation` and `test`.

Version 2 stands for ImageNet (the teacher's data) vs iNaturalist (the rare-task data): the teacher
never sees a target species, yet every target species' nearest neighbours (one step of shape, hue
or pattern away) are teacher species, so the teacher's categories are related to the rare ones
without containing them. The attribute tables and the nuisance factors (position, size, rotation,
colour jitter, background gradient, clutter strokes, sensor noise) are fixed from first principles
(a hue step of 1/8 is wider than twice the hue jitter, so every species can be told apart) and
versioned with the builder; nothing here is tuned to favour a training method.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools

import numpy as np

CONCEPTS = (
    "disk", "ring", "square", "triangle", "plus", "cross", "star", "hexagon",
    "crescent", "ellipse", "l_shape", "t_shape", "arrow", "frame", "two_dots", "half_disk",
)


@dataclasses.dataclass(frozen=True)
class Species:
    """One fine-grained category: a shape (its concept), a named hue and a surface pattern."""

    concept: str
    colour: str
    pattern: str
    hue: float  # HSV hue in [0, 1) of the colour's centre

    @property
    def name(self) -> str:
        return f"{self.colour}_{self.pattern}_{self.concept}"


@dataclasses.dataclass(frozen=True)
class World:
    """The attribute tables of one benchmark version; species are every combination, in the order
    concept-major, then colour, then pattern (index = (concept * colours + colour) * patterns + pattern).

    checkerboard: whether species split into teacher species (sum of the three attribute indices
    even) and target species (odd); without it every species is a target species.
    """

    colours: tuple[tuple[str, float], ...]
    patterns: tuple[str, ...]
    checkerboard: bool = False

    @functools.cached_property
    def species(self) -> tuple[Species, ...]:
        return tuple(Species(concept, colour, pattern, hue)
                     for concept in CONCEPTS for colour, hue in self.colours for pattern in self.patterns)

    @functools.cached_property
    def species_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.species)

    @functools.cached_property
    def attributes(self) -> np.ndarray:
        """int64 [S, 3]: (concept, colour, pattern) index of each species."""
        grid = np.indices((len(CONCEPTS), len(self.colours), len(self.patterns))).reshape(3, -1).T
        return grid.astype(np.int64)

    @property
    def concept_of_species(self) -> np.ndarray:
        """int64 [S]: each species' concept (shape) index."""
        return self.attributes[:, 0]

    @functools.cached_property
    def is_teacher_species(self) -> np.ndarray:
        """bool [S]: the species the teacher learns (pretrain split only)."""
        if not self.checkerboard:
            return np.zeros(len(self.species), bool)
        return self.attributes.sum(axis=1) % 2 == 0

    def teacher_labels(self, granularity: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """A teacher label space over this world's teacher species.

        granularity: "coarse" (the 16 shapes), "medium" (shape x colour) or "fine" (each teacher
        species its own class). Returns (class int64 [S] per species, -1 for a species outside the
        space, i.e. a target species at "fine"; class names).
        """
        concept, colour = self.attributes[:, 0], self.attributes[:, 1]
        if granularity == "coarse":
            return concept.copy(), CONCEPTS
        if granularity == "medium":
            names = tuple(f"{name}_{shape}" for shape in CONCEPTS for name, _ in self.colours)
            return concept * len(self.colours) + colour, names
        if granularity == "fine":
            teacher = np.flatnonzero(self.is_teacher_species)
            classes = np.full(len(self.species), -1, np.int64)
            classes[teacher] = np.arange(len(teacher))
            return classes, tuple(self.species_names[i] for i in teacher)
        raise ValueError(f"unknown granularity {granularity!r}; expected one of {GRANULARITIES}")

    def species_for_split(self, split: str) -> np.ndarray:
        """int64 [S']: the species a split draws from (teacher species in pretrain, target species elsewhere)."""
        if not self.checkerboard:
            return np.arange(len(self.species))
        return np.flatnonzero(self.is_teacher_species == (split == "pretrain"))


GRANULARITIES = ("coarse", "medium", "fine")
WORLD_V1 = World(
    colours=(("red", 0.0), ("yellow", 0.14), ("green", 0.33), ("blue", 0.62)),
    patterns=("solid", "stripes", "checker", "spots"),
)
WORLD_V2 = World(
    colours=tuple((name, k / 8) for k, name in enumerate(
        ("red", "orange", "lime", "green", "cyan", "blue", "violet", "magenta"))),
    patterns=("solid", "stripes", "bands", "checker", "spots", "rings"),
    checkerboard=True,
)
WORLDS = {1: WORLD_V1, 2: WORLD_V2}

# Version 1's tables under their historical names.
SPECIES = WORLD_V1.species
SPECIES_NAMES = WORLD_V1.species_names
CONCEPT_OF_SPECIES = WORLD_V1.concept_of_species


def _box(x, y, half_w, half_h):
    """Signed distance to an axis-aligned box centred at the origin (negative inside)."""
    dx, dy = np.abs(x) - half_w, np.abs(y) - half_h
    outside = np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    return outside + np.minimum(np.maximum(dx, dy), 0)


def _triangle(x, y, radius):
    """Signed distance to an upward equilateral triangle of circumradius `radius`."""
    k = np.sqrt(3.0)
    y = -y + radius / 2  # apex up in image coordinates (y grows downward)
    side = radius * k / 2
    x = np.abs(x) - side
    y = y + side / k
    flip = x + k * y > 0
    x, y = np.where(flip, (x - k * y) / 2, x), np.where(flip, (-k * x - y) / 2, y)
    x = x - np.clip(x, -2 * side, 0)
    return -np.hypot(x, y) * np.sign(y)


def _rotate(x, y, angle):
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def shape_distance(concept: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (object units, object radius ~1) to the concept's shape; negative inside."""
    r = np.hypot(x, y)
    if concept == "disk":
        return r - 0.9
    if concept == "ring":
        return np.abs(r - 0.68) - 0.24
    if concept == "square":
        return _box(x, y, 0.72, 0.72)
    if concept == "triangle":
        return _triangle(x, y + 0.2, 1.15)
    if concept == "plus":
        return np.minimum(_box(x, y, 0.92, 0.27), _box(x, y, 0.27, 0.92))
    if concept == "cross":
        u, v = _rotate(x, y, np.pi / 4)
        return np.minimum(_box(u, v, 0.98, 0.25), _box(u, v, 0.25, 0.98))
    if concept == "star":
        theta = np.arctan2(y, x) + np.pi / 2
        return (r - (0.6 + 0.35 * np.cos(5 * theta))) * 0.6
    if concept == "hexagon":
        ax, ay = np.abs(x), np.abs(y)
        return np.maximum(ax * 0.866 + ay * 0.5, ay) - 0.8
    if concept == "crescent":
        return np.maximum(r - 0.92, -(np.hypot(x - 0.45, y + 0.2) - 0.72))
    if concept == "ellipse":
        return (np.hypot(x / 0.95, y / 0.48) - 1.0) * 0.48
    if concept == "l_shape":
        return np.minimum(_box(x + 0.55, y, 0.28, 0.9), _box(x, y - 0.62, 0.83, 0.28))
    if concept == "t_shape":
        return np.minimum(_box(x, y + 0.62, 0.9, 0.28), _box(x, y - 0.18, 0.28, 0.72))
    if concept == "arrow":
        shaft = _box(x + 0.35, y, 0.55, 0.2)
        u, v = _rotate(x - 0.3, y, np.pi / 2)
        return np.minimum(shaft, _triangle(u, v + 0.1, 0.7))
    if concept == "frame":
        return np.abs(_box(x, y, 0.66, 0.66)) - 0.2
    if concept == "two_dots":
        return np.minimum(np.hypot(x + 0.5, y) - 0.4, np.hypot(x - 0.5, y) - 0.4)
    if concept == "half_disk":
        return np.maximum(np.hypot(x, y - 0.35) - 0.95, y - 0.35)
    raise ValueError(f"unknown concept {concept!r}; expected one of {CONCEPTS}")


def pattern_mask(pattern: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """1.0 where the object shows its secondary (dark) colour, in object coordinates."""
    if pattern == "solid":
        return np.zeros_like(x)
    if pattern == "stripes":
        return (np.sin(x * np.pi / 0.24) > 0).astype(np.float64)
    if pattern == "bands":
        return (np.sin(y * np.pi / 0.24) > 0).astype(np.float64)
    if pattern == "checker":
        return ((np.floor(x / 0.38) + np.floor(y / 0.38)) % 2).astype(np.float64)
    if pattern == "spots":
        fx, fy = x / 0.5 - np.round(x / 0.5), y / 0.5 - np.round(y / 0.5)
        return (np.hypot(fx, fy) < 0.3).astype(np.float64)
    if pattern == "rings":
        return (np.sin(np.hypot(x, y) * np.pi / 0.24) > 0).astype(np.float64)
    raise ValueError(f"unknown pattern {pattern!r}")


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def render(species_index: int, rng: np.random.Generator, size: int = 32, world: World = WORLD_V1) -> np.ndarray:
    """Renders one image of a species.

    Args:
      species_index: index into world.species.
      rng: the source of every nuisance factor (seed it per example for determinism).
      size: image height and width in pixels.
      world: the attribute tables (WORLD_V1 or WORLD_V2).

    Returns:
      uint8 array [size, size, 3].
    """
    species = world.species[species_index]
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5

    # Background: a two-colour gradient of muted colours, plus a few thin clutter strokes.
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * cols + np.sin(direction) * rows) / size
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    c0 = _hsv(rng.uniform(), rng.uniform(0, 0.35), rng.uniform(0.25, 0.9))
    c1 = _hsv(rng.uniform(), rng.uniform(0, 0.35), rng.uniform(0.25, 0.9))
    image = c0 + ramp[..., None] * (c1 - c0)
    for _ in range(rng.integers(1, 4)):
        angle = rng.uniform(0, np.pi)
        offset = rng.uniform(0, size)
        dist = np.abs(np.cos(angle) * cols + np.sin(angle) * rows - offset - size / 4)
        alpha = np.clip(1.0 - dist / rng.uniform(0.6, 1.4), 0, 1)[..., None]
        stroke = _hsv(rng.uniform(), rng.uniform(0.1, 0.8), rng.uniform(0.2, 1.0))
        image = image * (1 - alpha) + stroke * alpha

    # Object: position, size and rotation vary; shape, colour and pattern define the species.
    radius = rng.uniform(0.27, 0.42) * size
    cy, cx = rng.uniform(radius * 0.8, size - radius * 0.8, size=2)
    x, y = _rotate((cols - cx) / radius, (rows - cy) / radius, rng.uniform(-0.26, 0.26))
    distance = shape_distance(species.concept, x, y)
    alpha = np.clip(0.5 - distance * radius, 0, 1)[..., None]
    primary = _hsv(
        species.hue + rng.uniform(-0.03, 0.03),
        rng.uniform(0.65, 1.0),
        rng.uniform(0.7, 1.0),
    )
    secondary = primary * rng.uniform(0.2, 0.4)
    dark = pattern_mask(species.pattern, x, y)[..., None]
    colour = primary * (1 - dark) + secondary * dark
    image = image * (1 - alpha) + colour * alpha

    # Camera: global gain and sensor noise.
    image = image * rng.uniform(0.8, 1.15) + rng.normal(0, 0.03, image.shape)
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)


def balanced_species(num_examples: int, rng: np.random.Generator, species: np.ndarray | None = None) -> np.ndarray:
    """Species index per example, as evenly spread over `species` (default: version 1's 256) as the
    count allows."""
    species = np.arange(len(SPECIES)) if species is None else np.asarray(species)
    return rng.permutation(species[np.arange(num_examples) % len(species)])
