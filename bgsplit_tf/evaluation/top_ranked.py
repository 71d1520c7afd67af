"""The images each rare class ranks highest, kept in bounded memory while scores stream past
(TopImages: mining's contact sheet), and the test images drawn marked right or wrong (TopRanked): what
a user reviewing the model's top results would see first."""

from __future__ import annotations

import heapq

import numpy as np

from bgsplit_tf.evaluation import plots

PER_CLASS = 8  # images per rare class in the picture


class TopImages:
    """The `size` highest-scoring images per class, in bounded memory (a min-heap per class)."""

    def __init__(self, num_classes: int, size: int):
        self.size = size
        self.heaps: list[list] = [[] for _ in range(num_classes)]
        self._counter = 0

    def add(self, scores: np.ndarray, pixels: np.ndarray, items: list[str]) -> None:
        """scores float [B, K]; pixels uint8 [B, H, W, 3]."""
        for k, heap in enumerate(self.heaps):
            for b in np.argsort(-scores[:, k])[: self.size]:
                self._counter += 1
                # A copy: a view of pixels[b] would keep its whole batch alive while it stays in the heap.
                entry = (float(scores[b, k]), self._counter, items[b], pixels[b].copy())
                if len(heap) < self.size:
                    heapq.heappush(heap, entry)
                elif entry[0] > heap[0][0]:
                    heapq.heapreplace(heap, entry)

    def best(self, k: int) -> list[tuple[float, str, np.ndarray]]:
        """Rare class k's kept (score, item, image uint8 [H, W, 3]), highest score first."""
        return [(s, item, image) for s, _, item, image in sorted(self.heaps[k], key=lambda e: -e[0])]


class TopRanked:
    """Per rare class, the `per_class` images with the highest main-head probability of that class,
    kept while evaluation batches stream past (a running top N: memory stays at K * per_class images).

    Pass `observe` to validation.predict_main, then draw the picture with `png`.
    class_names: K + 1 names, background first.
    """

    def __init__(self, class_names: tuple[str, ...], per_class: int = PER_CLASS):
        self.class_names, self.per_class = class_names, per_class
        self.top = TopImages(len(class_names) - 1, per_class)

    def observe(self, images: np.ndarray, labels: np.ndarray, probabilities: np.ndarray) -> None:
        """Keeps a batch's candidates. images float32 [B, H, W, 3] in [0, 255]; labels int [B] main
        labels; probabilities float32 [B, K + 1]."""
        pixels = np.clip(np.rint(images), 0, 255).astype(np.uint8)
        self.top.add(probabilities[:, 1:], pixels, [self.class_names[label] for label in labels])

    def rows(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """Per rare class with any image seen: (label, images uint8 [n, H, W, 3] highest score first,
        bool [n]: whether each is a positive of that class)."""
        rows = []
        for k, name in enumerate(self.class_names[1:]):
            kept = self.top.best(k)
            if kept:
                correct = np.array([true_class == name for _, true_class, _ in kept])
                rows.append((f"{name}: {correct.sum()} of the top {len(kept)} are {name}",
                             np.stack([image for _, _, image in kept]), correct))
        return rows

    def png(self, title: str) -> bytes:
        """The kept images as a grid (plots.gallery_png), one row per rare class, each image framed as a
        true positive (green) or a false positive (red)."""
        rows = self.rows()
        return plots.gallery_png([(label, images) for label, images, _ in rows],
                                 f"{title} (green: a positive of the row's class, red: a false positive)",
                                 correct=[correct for _, _, correct in rows])
