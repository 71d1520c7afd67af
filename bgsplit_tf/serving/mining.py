"""Mining: score a large unlabeled pool for the rare classes with an exported model (`bgsplit-predict`).

The pool is any source spec data.sources reads as a pool: a folder (or folder:ROOT), a CSV manifest
(or manifest:FILE.csv), or tfds:NAME/SPLIT.

Streams the pool through the SavedModel's predict_images signature: files are read and decoded in
parallel by tf.data, resized to the model's input size and batched; only the scores (float32 [N, K])
and a running top-N per class are kept, so memory does not grow with the images. Files that do not
decode are skipped, counted and listed. Writes to --output_dir:
  ranked.csv         one row per (image, rare class): item (path or id), class, score, rank, and
                     above_p<target> flags for the model's validation operating points; sorted by
                     class, then score, highest first
  contact_sheet.png  the top --top_n images of each rare class
  skipped.txt        files that could not be decoded
  summary.json       counts, images/s, wall time
"""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf.data import image_files, recipes, sources
from bgsplit_tf.evaluation import top_ranked
from bgsplit_tf.data.sources import files

def resolve_export(model: str | pathlib.Path) -> pathlib.Path:
    """A SavedModel folder, or a TF Serving base path whose highest integer version is used."""
    model = pathlib.Path(model)
    if (model / "saved_model.pb").exists():
        return model
    versions = sorted((int(p.name) for p in model.glob("*") if p.is_dir() and p.name.isdigit()), reverse=True)
    for version in versions:
        if (model / str(version) / "saved_model.pb").exists():
            return model / str(version)
    raise FileNotFoundError(f"{model} holds no SavedModel (saved_model.pb) nor integer version folders with one; "
                            "pass the --export_dir of bgsplit-export or one of its version folders")


def pool_examples(images: str, image_size: tuple[int, int], data_dir: str | None = None, image_key: str = "image",
                  id_key: str = "id",
                  resize_mode: str = image_files.STRETCH) -> tuple[sources.Source, tf.data.Dataset, list[str]]:
    """The pool `images` names (a data.sources pool spec): its source (decoding to image_size by
    `resize_mode`, image_files.RESIZE_MODES), its examples still encoded, each with an "item" (string []:
    a file's path, or a TFDS id), and every item of the pool in order."""
    spec = sources.parse(images, pool=True)
    source = sources.open_source(spec, image_size=image_size, resize_mode=resize_mode, data_dir=data_dir,
                                 image_key=image_key, label_key="", id_key=id_key)
    is_files = isinstance(source, files.ImageFileSource)
    ids = source.read_labels(spec.split)[1]
    items = [str(source.root / i.decode()) if is_files and not i.startswith(b"/") else i.decode() for i in ids]
    examples = source.encoded_examples(spec.split).map(
        lambda ex: {**ex, "item": ex["image"] if is_files else ex["id"]})
    return source, examples, items


def pool_batches(images: str, image_size: tuple[int, int], batch_size: int, data_dir: str | None, image_key: str,
                 id_key: str, resize_mode: str = image_files.STRETCH) -> tuple[tf.data.Dataset, list[str]]:
    """(items string [B], pixels uint8 [B, H, W, 3]) batches of the pool (pool_examples), decoded and
    resized as evaluation resizes them (`resize_mode`), in parallel; images that do not decode are dropped
    (the caller finds them by difference). Also returns every item of the pool."""
    source, examples, items = pool_examples(images, image_size, data_dir, image_key, id_key, resize_mode)
    batches = examples.map(lambda ex: (ex["item"], source.decode(ex)["image"]), num_parallel_calls=tf.data.AUTOTUNE)
    return batches.ignore_errors().batch(batch_size).prefetch(tf.data.AUTOTUNE), items


@dataclasses.dataclass(frozen=True)
class Export:
    """An exported model as mining uses it: its SavedModel folder, rare class names (K), input size
    (H, W), evaluation view (its resize mode, image_files.RESIZE_MODES) and validation operating points
    (operating_points.json)."""

    path: pathlib.Path
    rare_names: list[str]
    image_size: tuple[int, int]
    resize_mode: str
    points: dict


def open_export(model: str | pathlib.Path) -> Export:
    """The Export of a SavedModel folder or TF Serving base path (resolve_export)."""
    path = resolve_export(model)
    info = json.loads((path / "assets.extra" / "model_info.json").read_text())
    points = json.loads((path / "assets.extra" / "operating_points.json").read_text())
    return Export(path, info["class_names"][1:], tuple(info["image_size"]), recipes.recorded_resize_mode(info), points)


def mine(model_dir, images: str, output_dir, batch_size: int = 64, top_n: int = 16, data_dir: str | None = None,
         image_key: str = "image", id_key: str = "id") -> dict:
    """Scores every image of the pool in this process; writes ranked.csv, contact_sheet.png, skipped.txt,
    summary.json (beam.mining does the same on a Beam runner)."""
    export = open_export(model_dir)
    predict = tf.saved_model.load(str(export.path)).signatures["predict_images"]
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    batches, pool = pool_batches(images, export.image_size, batch_size, data_dir, image_key, id_key, export.resize_mode)
    progress = keras.utils.Progbar(len(pool), unit_name="image")
    items, scores = [], []
    top = top_ranked.TopImages(len(export.rare_names), top_n)
    started = time.time()
    for batch_items, pixels in batches:
        batch_scores = predict(images=pixels)["rare_scores"].numpy()
        names = [i.decode() for i in batch_items.numpy()]
        items.extend(names)
        scores.append(batch_scores)
        top.add(batch_scores, pixels.numpy(), names)
        progress.add(len(names))
    seconds = time.time() - started
    scores = np.concatenate(scores) if scores else np.zeros((0, len(export.rare_names)), np.float32)
    write_skipped(output_dir, sorted(set(pool) - set(items)))
    write_ranked(output_dir / "ranked.csv", items, scores, export.rare_names, export.points)
    write_contact_sheet(output_dir, [top.best(k) for k in range(len(export.rare_names))], export.rare_names, top_n,
                        len(items))
    return write_summary(output_dir, export, images, len(items), len(pool) - len(items), seconds)


def write_skipped(output_dir: pathlib.Path, skipped: list[str]) -> None:
    """skipped.txt: the pool's items that do not decode, one per line (warned about in the log)."""
    (output_dir / "skipped.txt").write_text("".join(f"{p}\n" for p in skipped))
    if skipped:
        logging.warning("Skipped %d files that could not be decoded; listed in %s", len(skipped),
                        output_dir / "skipped.txt")


def write_contact_sheet(output_dir: pathlib.Path, best: list[list[tuple[float, str, np.ndarray]]],
                        rare_names: list[str], top_n: int, scored: int) -> None:
    """contact_sheet.png: per rare class k, its best[k] (score, item, image uint8 [H, W, 3]), highest first."""
    from bgsplit_tf.evaluation import plots

    rows = [(f"{name} (top {top_n})", np.stack([image for _, _, image in best[k]]))
            for k, name in enumerate(rare_names) if best[k]]
    if rows:
        (output_dir / "contact_sheet.png").write_bytes(
            plots.gallery_png(rows, f"highest-scoring images per rare class ({scored} scored)"))


def write_summary(output_dir: pathlib.Path, export: Export, images: str, scored: int, skipped: int,
                  seconds: float, **extra) -> dict:
    """summary.json: counts, images/s and wall time (and `extra`, such as the Beam runner); returns it."""
    summary = {"model": str(export.path), "images": images, "scored": scored, "skipped": skipped,
               "seconds": seconds, "images_per_second": scored / seconds if seconds else None, **extra}
    (output_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def write_ranked(path: pathlib.Path, items: list[str], scores: np.ndarray, rare_names: list[str], points: dict) -> None:
    """ranked.csv: per rare class, every item by score (highest first) with its operating-point flags."""
    targets = points.get("target_precisions", [])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["item", "class", "score", "rank", *[f"above_p{t:g}" for t in targets]])
        for k, name in enumerate(rare_names):
            thresholds = [p["threshold"] for p in points.get("per_class", {}).get(name, [])]
            for rank, i in enumerate(np.argsort(-scores[:, k], kind="stable"), start=1):
                score = float(scores[i, k])
                flags_ = [int(t is not None and score >= t) for t in thresholds]
                writer.writerow([items[i], name, f"{score:.6g}", rank, *flags_])
