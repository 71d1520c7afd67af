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
import json
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf.data import image_files, sources
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
                  id_key: str = "id", fit: str = image_files.STRETCH) -> tuple[sources.Source, tf.data.Dataset, list[str]]:
    """The pool `images` names (a data.sources pool spec): its source (decoding to image_size by `fit`,
    image_files.FITS), its examples still encoded, each with an "item" (string []: a file's path, or a
    TFDS id), and every item of the pool in order."""
    spec = sources.parse(images, pool=True)
    source = sources.open_source(spec, image_size=image_size, fit=fit, data_dir=data_dir, image_key=image_key,
                                 label_key="", id_key=id_key)
    is_files = isinstance(source, files.ImageFileSource)
    ids = source.read_labels(spec.split)[1]
    items = [str(source.root / i.decode()) if is_files and not i.startswith(b"/") else i.decode() for i in ids]
    examples = source.encoded_examples(spec.split).map(
        lambda ex: {**ex, "item": ex["image"] if is_files else ex["id"]})
    return source, examples, items


def pool_batches(images: str, image_size: tuple[int, int], batch_size: int, data_dir: str | None, image_key: str,
                 id_key: str, fit: str = image_files.STRETCH) -> tuple[tf.data.Dataset, list[str]]:
    """(items string [B], pixels uint8 [B, H, W, 3]) batches of the pool (pool_examples), decoded and
    fitted as evaluation fits them (`fit`), in parallel; images that do not decode are dropped (the caller
    finds them by difference). Also returns every item of the pool."""
    source, examples, items = pool_examples(images, image_size, data_dir, image_key, id_key, fit)
    batches = examples.map(lambda ex: (ex["item"], source.decode(ex)["image"]), num_parallel_calls=tf.data.AUTOTUNE)
    return batches.ignore_errors().batch(batch_size).prefetch(tf.data.AUTOTUNE), items


def mine(model_dir, images: str, output_dir, batch_size: int = 64, top_n: int = 16, data_dir: str | None = None,
         image_key: str = "image", id_key: str = "id") -> dict:
    """Scores every image of the pool; writes ranked.csv, contact_sheet.png, skipped.txt, summary.json."""
    from bgsplit_tf.evaluation import plots

    export_path = resolve_export(model_dir)
    info = json.loads((export_path / "assets.extra" / "model_info.json").read_text())
    points = json.loads((export_path / "assets.extra" / "operating_points.json").read_text())
    class_names, image_size = info["class_names"], tuple(info["image_size"])
    rare_names = class_names[1:]
    predict = tf.saved_model.load(str(export_path)).signatures["predict_images"]
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    # The model's evaluation view (model_info.json; exports written before it was recorded stretched images).
    fit = info.get("evaluation_fit", image_files.STRETCH)
    batches, pool = pool_batches(images, image_size, batch_size, data_dir, image_key, id_key, fit)
    progress = keras.utils.Progbar(len(pool), unit_name="image")
    items, scores = [], []
    top = top_ranked.TopImages(len(rare_names), top_n)
    started = time.time()
    for batch_items, pixels in batches:
        batch_scores = predict(images=pixels)["rare_scores"].numpy()
        names = [i.decode() for i in batch_items.numpy()]
        items.extend(names)
        scores.append(batch_scores)
        top.add(batch_scores, pixels.numpy(), names)
        progress.add(len(names))
    seconds = time.time() - started
    scores = np.concatenate(scores) if scores else np.zeros((0, len(rare_names)), np.float32)
    skipped = sorted(set(pool) - set(items))
    (output_dir / "skipped.txt").write_text("".join(f"{p}\n" for p in skipped))
    if skipped:
        logging.warning("Skipped %d files that could not be decoded; listed in %s", len(skipped),
                        output_dir / "skipped.txt")
    write_ranked(output_dir / "ranked.csv", items, scores, rare_names, points)
    rows = [(f"{name} (top {top_n})", np.stack([image for _, _, image in top.best(k)]))
            for k, name in enumerate(rare_names) if top.best(k)]
    if rows:
        (output_dir / "contact_sheet.png").write_bytes(
            plots.gallery_png(rows, f"highest-scoring images per rare class ({len(items)} scored)"))
    summary = {"model": str(export_path), "images": images, "scored": len(items), "skipped": len(skipped),
               "seconds": seconds, "images_per_second": len(items) / seconds if seconds else None}
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
