"""Pictures people would rather look at than read: PR curves and method comparisons (PNG)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bgsplit_tf import metrics  # noqa: E402


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def pr_curves_png(labels: np.ndarray, probabilities: np.ndarray, class_names: tuple[str, ...], title: str) -> bytes:
    """One precision-recall curve per rare class (AP in the legend), as PNG bytes.

    labels: int [N] main labels; probabilities: float [N, K + 1]; class_names: K + 1 names.
    """
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for k, name in enumerate(class_names[1:], start=1):
        precision, recall, _ = metrics.precision_recall_curve(labels == k, probabilities[:, k])
        ap = metrics.area_under_curve(precision, recall)
        axes.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="pre", label=f"{name} (AP {ap:.2f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title)
    axes.legend(fontsize=7, loc="lower left")
    axes.grid(alpha=0.3)
    return _png(figure)


def comparison_png(rows: list[dict], title: str) -> bytes:
    """Test mAP per method: one dot per seed and the mean with its std, as PNG bytes.

    rows: dicts with "method", "seed" and "test_mAP".
    """
    methods = list(dict.fromkeys(r["method"] for r in rows))
    figure, axes = plt.subplots(figsize=(1.6 + 1.4 * len(methods), 4))
    for x, method in enumerate(methods):
        values = np.array([r["test_mAP"] for r in rows if r["method"] == method])
        axes.scatter(np.full(values.size, x), values, color="gray", alpha=0.7, zorder=2)
        axes.errorbar(x + 0.15, values.mean(), yerr=values.std(), fmt="o", color="C0", capsize=6, zorder=3)
        axes.annotate(f"{values.mean():.3f}", (x + 0.22, values.mean()), fontsize=8, va="center")
    axes.set_xticks(range(len(methods)), methods)
    axes.set(ylabel="test mAP", ylim=(0, 1), title=title)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def gallery_png(rows: list[tuple[str, np.ndarray]], title: str) -> bytes:
    """A grid of images, one labelled row per group (e.g. each rare class, then background), as PNG bytes.

    rows: (label, uint8 images [n, H, W, 3]) per row; rows may hold different numbers of images.
    """
    columns = max(1, max(len(images) for _, images in rows))
    figure, axes = plt.subplots(len(rows), columns, figsize=(0.9 * columns + 1.5, 0.95 * len(rows)), squeeze=False)
    for row, (label, images) in enumerate(rows):
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            if column < len(images):
                axis.imshow(images[column], interpolation="nearest")
        axes[row, 0].set_title(label, fontsize=7, loc="left")
    figure.suptitle(title, fontsize=9)
    return _png(figure)
