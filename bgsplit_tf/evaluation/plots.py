"""Pictures people would rather look at than read: PR curves, image galleries and method comparisons (PNG)."""

from __future__ import annotations

import io
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bgsplit_tf.evaluation import metrics, paired  # noqa: E402


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


def fraction_comparison_png(rows: list[dict], title: str) -> bytes:
    """fraction_comparison_figure as PNG bytes."""
    return _png(fraction_comparison_figure(rows, title))


def fraction_comparison_figure(rows: list[dict], title: str):
    """Test mAP against training background fraction, one line per method (mean, std bars): a figure.

    rows: dicts with "method", "background_fraction" (a grid value, or None for a task given by N),
    "train_background_fraction" and "test_mAP". Fractions sit at even spacing, labelled in percent;
    "bgsplit+<baseline>" is drawn dashed in its baseline's colour.
    """
    fractions = sorted(dict.fromkeys(r["background_fraction"] for r in rows), key=lambda f: (f is None, f))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    baselines = list(dict.fromkeys(m.removeprefix("bgsplit+") for m in methods))
    figure, axes = plt.subplots(figsize=(3.5 + 1.5 * len(fractions), 4.8))
    lowest = 1.0
    for i, method in enumerate(methods):
        base = method.removeprefix("bgsplit+")
        colour = f"C{baselines.index(base) % 10}"
        xs, means, stds = [], [], []
        for x, fraction in enumerate(fractions):
            values = np.array([r["test_mAP"] for r in rows if r["method"] == method and r["background_fraction"] == fraction])
            if values.size:
                xs.append(x + 0.03 * (i - len(methods) / 2))
                means.append(values.mean())
                stds.append(values.std())
                lowest = min(lowest, values.mean() - values.std())
        dashed = method.startswith("bgsplit+")
        axes.errorbar(xs, means, yerr=stds, fmt="o--" if dashed else "o-", color="k" if method == "bgsplit" else colour,
                      capsize=3, label=method, alpha=0.85)
    labels = []
    for fraction in fractions:
        if fraction is None:
            achieved = np.mean([r["train_background_fraction"] for r in rows if r["background_fraction"] is None])
            labels.append(f"{achieved:.2%}")
        else:
            labels.append(f"{fraction:.2%}")
    axes.set_xticks(range(len(fractions)), labels)
    axes.set_xlim(-0.5, len(fractions) - 0.5)  # one unit per fraction, whatever their number: the offsets stay small
    # From 0, unless every bar sits high: then from the tenth below the lowest, so close results stay apart.
    bottom = max(0.0, np.floor((lowest - 0.02) * 10) / 10) if lowest > 0.5 else 0.0
    axes.set(xlabel="training background fraction", ylabel="test mAP (mean +- std over seeds)", ylim=(bottom, 1.005),
             title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return figure


# Frames of gallery_png's marked images: a positive of the row's class, or not.
CORRECT_COLOUR, WRONG_COLOUR = "#00b000", "#e00000"


def gallery_png(rows: list[tuple[str, np.ndarray]], title: str, correct: list[np.ndarray] | None = None) -> bytes:
    """A grid of images, one labelled row per group (e.g. each rare class, then background), as PNG bytes.

    rows: (label, uint8 images [n, H, W, 3]) per row; rows may hold different numbers of images.
    correct: if given, per row bool [n]: each image is framed in CORRECT_COLOUR (True, e.g. a true
    positive of the row's class) or WRONG_COLOUR (False, a false positive).
    """
    columns = max(1, max(len(images) for _, images in rows))
    height = 1.15 * len(rows) + 0.3  # inches: the rows, and the title above them
    figure, axes = plt.subplots(len(rows), columns, figsize=(0.9 * columns + 1.5, height), squeeze=False)
    # Room for each row's label above its images, and a title band of fixed height however many rows.
    figure.subplots_adjust(hspace=0.45, top=1 - 0.55 / height)
    for row, (label, images) in enumerate(rows):
        for column in range(columns):
            axis = axes[row, column]
            axis.axis("off")
            if column < len(images):
                axis.imshow(images[column], interpolation="nearest")
                if correct is not None:
                    axis.add_patch(matplotlib.patches.Rectangle(
                        (0, 0), 1, 1, transform=axis.transAxes, fill=False, linewidth=2.5,
                        edgecolor=CORRECT_COLOUR if correct[row][column] else WRONG_COLOUR))
        axes[row, 0].set_title(label, fontsize=7, loc="left")
    figure.suptitle(title, fontsize=9, y=1 - 0.1 / height)
    return _png(figure)


def regime_map_png(summaries: list[dict], title: str, paired_by: str = "seed") -> bytes:
    """A map: per cell, BG minus tuned FT test mAP (mean over the pairs, 95% bootstrap interval),
    cells grouped by axis from top to bottom; cells without a comparison (linear probe) are left out.
    paired_by: what pairs the runs (the regime map's seed, the real map's task), for the axis label.

    summaries: dicts with "axis", "value", "diff_mean", "diff_low", "diff_high", "wins", "pairs".
    """
    compared = [s for s in summaries if "diff_mean" in s]
    return _forest_png([ForestRow(s["axis"], f"{s['axis']}: {s['value']}", s["diff_mean"], s["diff_low"],
                                  s["diff_high"], f"{s['wins']}/{s['pairs']}", s["pairs"]) for s in compared],
                       f"test mAP: Background Splitting - tuned fine-tuning (paired by {paired_by}; 95% bootstrap CI)", title)


def paired_differences_png(pairs: list[dict], title: str) -> bytes:
    """Each method with the aux loss minus without, per background fraction: the mean paired test mAP
    difference with its 95% bootstrap interval, and every seed's difference as a small dot.

    pairs: dicts with "pair" ("bgsplit - finetune"), "label" (the fraction), "mean", "low", "high",
    "ahead", "pairs" and "differences" (the per-seed values, space-separated).
    """
    return _forest_png([ForestRow(p["pair"], f"{p['pair']}, {p['label']}", p["mean"], p["low"], p["high"],
                                  f"{p['ahead']}/{p['pairs']}", p["pairs"],
                                  tuple(float(v) for v in p["differences"].split())) for p in pairs],
                       "test mAP: with the aux loss - without (paired by seed; 95% bootstrap CI; dots: seeds)", title)


def difference_colour(low: float, high: float, pairs: int) -> str:
    """A paired difference's colour (paired.direction): green if its interval (low, high) lies above 0,
    red if below, grey if it holds 0 or rests on too few pairs for a verdict."""
    return {1: "C2", -1: "C3"}.get(paired.direction(low, high, pairs), "0.4")


class ForestRow(NamedTuple):
    """One line of a forest plot: a mean difference with its interval, over `pairs` pairs."""

    group: str  # consecutive rows of one group sit between separator lines
    label: str
    mean: float
    low: float
    high: float
    note: str  # written right of the interval (e.g. seeds ahead, "5/8")
    pairs: int
    seeds: tuple[float, ...] = ()  # each pair's difference, drawn as small dots


def _forest_png(rows: list[ForestRow], xlabel: str, title: str) -> bytes:
    """A forest plot of differences, top to bottom, coloured by difference_colour; a line between
    groups; each row's note right of its interval."""
    figure, axes = plt.subplots(figsize=(7.5, 0.42 * len(rows) + 1.2))
    ys = np.arange(len(rows))[::-1]
    for y, row in zip(ys, rows):
        colour = difference_colour(row.low, row.high, row.pairs)
        axes.errorbar(row.mean, y, xerr=[[row.mean - row.low], [row.high - row.mean]], fmt="o", color=colour,
                      capsize=3)
        if row.seeds:
            axes.plot(row.seeds, [y - 0.18] * len(row.seeds), ".", color=colour, alpha=0.5, markersize=4)
        axes.annotate(row.note, (max((row.high, *row.seeds)), y), xytext=(4, -3), textcoords="offset points",
                      fontsize=7, color="0.3")
    axes.axvline(0, color="k", lw=0.8)
    axes.set_yticks(ys, [row.label for row in rows], fontsize=8)
    for boundary in [i for i in range(1, len(rows)) if rows[i].group != rows[i - 1].group]:
        axes.axhline(ys[boundary] + 0.5, color="0.85", lw=0.8)
    axes.set(xlabel=xlabel, title=title)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


MECHANISM_PANELS = (
    ("val_mAP", "validation mAP"),
    ("aux_loss", "aux loss (drift from the teacher's classifier)"),
    ("mech_train_positive_prob", "p(true class), own training positives"),
    ("mech_val_positive_prob", "p(true class), validation positives"),
    ("mech_cka_to_teacher", "linear CKA to the teacher's features"),
    ("mech_background_rank", "effective rank of background features"),
)


def mechanism_png(histories: dict[str, list[dict]], title: str) -> bytes:
    """Per-epoch mechanism curves, mean over seeds with a band of +- one std, one line per method.

    histories: method label -> list of Keras histories (dicts of per-epoch lists, as in metrics.json),
    one per seed; val_mAP is drawn at its val_epoch values (validation may skip epochs).
    """
    figure, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    for axis, (key, label) in zip(axes.ravel(), MECHANISM_PANELS):
        for i, (method, runs) in enumerate(histories.items()):
            series = [run[key] for run in runs if run.get(key)]
            if not series:
                continue
            length = min(len(s) for s in series)
            values = np.array([s[:length] for s in series], dtype=float)
            epochs = (np.array(runs[0]["val_epoch"][:length]) if key.startswith("val_") and runs[0].get("val_epoch")
                      else np.arange(1, length + 1))
            mean, std = values.mean(axis=0), values.std(axis=0)
            axis.plot(epochs, mean, "o-", ms=3, color=f"C{i}", label=method)
            axis.fill_between(epochs, mean - std, mean + std, color=f"C{i}", alpha=0.2)
        axis.set(xlabel="epoch", title=label)
        axis.title.set_fontsize(9)
        axis.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _png(figure)


def found_against_reviewed_png(runs: list[dict], title: str) -> bytes:
    """Positives found against images reviewed, one line per strategy (mean over seeds, band +- std).

    runs: dicts with "strategy", "reviewed" and "found" (cumulative per round), as search.benchmark writes.
    """
    figure, axes = plt.subplots(figsize=(6, 4.2))
    for i, strategy in enumerate(dict.fromkeys(r["strategy"] for r in runs)):
        mine = [r for r in runs if r["strategy"] == strategy]
        reviewed = np.array(mine[0]["reviewed"])
        found = np.array([r["found"] for r in mine], float)
        mean, std = found.mean(axis=0), found.std(axis=0)
        axes.plot(reviewed, mean, "o-", color=f"C{i}", label=f"{strategy} ({len(mine)} seeds)")
        axes.fill_between(reviewed, mean - std, mean + std, color=f"C{i}", alpha=0.2)
    axes.set(xlabel="images reviewed", ylabel="positives found", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _png(figure)
