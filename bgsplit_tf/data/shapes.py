"""Procedural renderer behind the embedded benchmark (pure NumPy, no TensorFlow).

Every image shows one object on a cluttered background. The object belongs to a fine-grained
*species*; species are grouped into coarse *concepts*:

  concept  = the object's shape (16 shapes: disk, ring, square, ...);
  species  = concept x colour x surface pattern (16 shapes x 4 colours x 4 patterns = 256).

This mirrors ImageNet vs iNaturalist: a teacher pre-trained on the concept labels learns general
visual structure (shapes, edges, textures) but never sees a species label, and a rare species shares
its concept with 15 background species that differ from it only in colour or pattern.

Nothing here is tuned to favour any training method: the attribute grid, the nuisance factors
(position, size, rotation, colour jitter, background gradient, clutter strokes, sensor noise) and their
ranges are fixed from first principles and versioned with the TFDS builder.
"""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

CONCEPTS = (
    "disk", "ring", "square", "triangle", "plus", "cross", "star", "hexagon",
    "crescent", "ellipse", "l_shape", "t_shape", "arrow", "frame", "two_dots", "half_disk",
)
COLOURS = {"red": 0.0, "yellow": 0.14, "green": 0.33, "blue": 0.62}
PATTERNS = ("solid", "stripes", "checker", "spots")


@dataclasses.dataclass(frozen=True)
class Species:
    """One fine-grained category: a shape (its concept), a colour and a surface pattern."""

    concept: str
    colour: str
    pattern: str

    @property
    def name(self) -> str:
        return f"{self.colour}_{self.pattern}_{self.concept}"


SPECIES = tuple(
    Species(concept, colour, pattern)
    for concept in CONCEPTS
    for colour in COLOURS
    for pattern in PATTERNS
)
SPECIES_NAMES = tuple(s.name for s in SPECIES)
CONCEPT_OF_SPECIES = np.array([CONCEPTS.index(s.concept) for s in SPECIES], dtype=np.int64)


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
    if pattern == "checker":
        return ((np.floor(x / 0.38) + np.floor(y / 0.38)) % 2).astype(np.float64)
    if pattern == "spots":
        fx, fy = x / 0.5 - np.round(x / 0.5), y / 0.5 - np.round(y / 0.5)
        return (np.hypot(fx, fy) < 0.3).astype(np.float64)
    raise ValueError(f"unknown pattern {pattern!r}; expected one of {PATTERNS}")


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def render(species_index: int, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Renders one image of a species.

    Args:
      species_index: index into SPECIES.
      rng: the source of every nuisance factor (seed it per example for determinism).
      size: image height and width in pixels.

    Returns:
      uint8 array [size, size, 3].
    """
    species = SPECIES[species_index]
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
        COLOURS[species.colour] + rng.uniform(-0.03, 0.03),
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


def balanced_species(num_examples: int, rng: np.random.Generator) -> np.ndarray:
    """Species index per example, as evenly spread over the 256 species as the count allows."""
    return rng.permutation(np.arange(num_examples) % len(SPECIES))
