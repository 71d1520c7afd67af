"""Export: a trained run -> a versioned SavedModel that TF Serving serves as it is (`bgsplit-export`).

Layout: <export_dir>/<version>/ (an integer, one more than the highest already there), the folder
TF Serving watches; <version>/assets.extra/ also holds class_names.txt, operating_points.json and
model_info.json (class names, input size, target precisions) for clients such as bgsplit-predict,
tf_serving_warmup_requests (warmup: requests TF Serving runs on both signatures when it loads the
version) and, for an export of a run, model_card.md (model_card: the run's data, method, results,
operating points and limits). Built with Keras' ExportArchive. Two signatures:

  serving_default(images: string [B])  encoded JPEG, PNG, GIF (first frame) or BMP of any size,
                                       decoded as evaluation decodes (data.image_files: RGB, EXIF
                                       orientation applied, fitted to the input by the run's
                                       evaluation view: stretched, or resized and centre-cropped). Decoding and resizing run in plain
                                       TensorFlow ops before the network; strings never reach a
                                       compiled (XLA) function. An image that does not decode does
                                       not fail the request: its row has decoded = false, NaN
                                       scores and an empty top_class, and the others are scored.
  predict_images(images: uint8 [B, H, W, 3])  decoded pixels of any size, fitted as serving_default
                                       fits them; pixels at exactly the input size are taken as
                                       the evaluation view itself (what bgsplit-predict sends).

Both return:
  probabilities           float32 [B, K + 1]  main-head softmax (index 0 = background), with the
                                              run's post-hoc logit adjustment if it had one
  rare_scores             float32 [B, K]      probabilities[:, 1:]
  background_probability  float32 [B]
  top_class               string [B]          the most probable class name
  above_threshold         bool [B, K, P]      rare_scores >= the validation threshold of each target
                                              precision (never true where a target was unreachable)
  decoded                 bool [B]            whether the image decoded (always true for pixels)
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf

from bgsplit_tf.data import image_files, recipes
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.serving import model_card as model_card_lib, warmup

SIGNATURE_INPUT = "images"
# The one input of each signature, by signature name.
INPUT_SPECS = {
    "serving_default": tf.TensorSpec([None], tf.string, name=SIGNATURE_INPUT),
    "predict_images": tf.TensorSpec([None, None, None, 3], tf.uint8, name=SIGNATURE_INPUT),
}
OUTPUT_KEYS = ("probabilities", "rare_scores", "background_probability", "top_class", "above_threshold", "decoded")
MODEL_CARD_FILE = "model_card.md"


def next_version(export_dir: pathlib.Path) -> int:
    """One more than the highest integer-named folder in export_dir (1 if none)."""
    versions = [int(p.name) for p in export_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def threshold_table(class_names: tuple[str, ...],
                    operating_points: run_results.OperatingPoints | None) -> tuple[np.ndarray, list[float]]:
    """(thresholds float32 [K, P], target precisions [P]) from evaluation.validation.operating_points.

    An unreachable target gets +inf, so its above_threshold is never true. No points: P = 0.
    """
    if not operating_points:
        return np.zeros((len(class_names) - 1, 0), np.float32), []
    targets = [p.target_precision for p in operating_points[class_names[1]]]
    table = [[np.inf if p.threshold is None else p.threshold for p in operating_points[name]]
             for name in class_names[1:]]
    return np.asarray(table, np.float32), targets


def decode_request(images: tf.Tensor, image_size: tuple[int, int],
                   resize_mode: str = image_files.STRETCH) -> tuple[tf.Tensor, tf.Tensor]:
    """A request's encoded images (string [B]) -> (indices int64 [D] of those that decode, their pixels
    float32 [D, H, W, 3] in [0, 255] at the model's size, resized by `resize_mode`). Decoded in a tf.data
    pass that drops the images whose decoding fails, so one bad image costs only its own row."""
    count = tf.shape(images, out_type=tf.int64)[0]
    decoded = (tf.data.Dataset.from_tensor_slices((tf.range(count), images))
               .map(lambda i, encoded: (i, tf.cast(image_files.decode_bytes(encoded, image_size, resize_mode),
                                                   tf.float32)))
               .ignore_errors())
    empty = (tf.zeros([0], tf.int64), tf.zeros([0, *image_size, 3], tf.float32))
    return decoded.batch(tf.maximum(count, 1)).reduce(
        empty, lambda done, batch: (tf.concat([done[0], batch[0]], 0), tf.concat([done[1], batch[1]], 0)))


def export_saved_model(
    network: keras.Model,
    class_names: tuple[str, ...],
    export_dir: str | pathlib.Path,
    operating_points: run_results.OperatingPoints | None = None,
    logit_offset=None,
    version: int | None = None,
    model_card: str | None = None,
    evaluation_resize_mode: str = image_files.STRETCH,
) -> pathlib.Path:
    """Writes the SavedModel and returns its versioned folder.

    Args:
      network: the trained two-output network (pixels float32 [B, H, W, 3] in [0, 255] ->
        {"main": [B, K + 1], "aux": [B, M]}).
      class_names: K + 1 names, background first.
      export_dir: the model base path TF Serving watches.
      operating_points: evaluation.validation.operating_points on validation data, or None.
      logit_offset: float [K + 1] added to the main logits (post-hoc logit adjustment), or None.
      version: the version folder; default: next_version(export_dir).
      model_card: Markdown written to assets.extra/model_card.md (model_card.model_card of the run's
        results), or None for none.
      evaluation_resize_mode: how the run's evaluation resized images to the input
        (image_files.RESIZE_MODES); both signatures resize theirs the same way, and model_info.json
        records it.
    """
    export_dir = pathlib.Path(export_dir)
    version = version if version is not None else next_version(export_dir)
    path = export_dir / str(version)
    if path.exists():
        raise FileExistsError(f"{path} already exists; TF Serving versions are immutable, pick another --version")
    image_size = tuple(network.input_shape[1:3])
    num_classes = len(class_names)
    if network.output["main"].shape[-1] != num_classes:
        raise ValueError(f"the network has {network.output['main'].shape[-1]} main outputs but "
                         f"{num_classes} class names were given")
    offset = tf.constant(np.zeros(num_classes) if logit_offset is None else logit_offset, tf.float32)
    names = tf.constant(list(class_names))
    thresholds, targets = threshold_table(class_names, operating_points)
    thresholds = tf.constant(thresholds)

    def scores(pixels):
        probabilities = tf.nn.softmax(network(pixels, training=False)["main"] + offset, axis=-1)
        rare = probabilities[:, 1:]
        return {
            "probabilities": probabilities,
            "rare_scores": rare,
            "background_probability": probabilities[:, 0],
            "top_class": tf.gather(names, tf.argmax(probabilities, axis=-1)),
            "above_threshold": rare[:, :, None] >= thresholds[None],
            "decoded": tf.ones_like(probabilities[:, 0], tf.bool),
        }

    def predict_images(images):
        at_input_size = tf.reduce_all(tf.shape(images)[1:3] == tf.constant(image_size))
        fitted = tf.cond(at_input_size, lambda: tf.ensure_shape(images, [None, *image_size, 3]),
                         lambda: tf.map_fn(
                             lambda image: image_files.apply_resize_mode(image, image_size, evaluation_resize_mode),
                             images, fn_output_signature=tf.TensorSpec([*image_size, 3], tf.uint8)))
        return scores(tf.cast(fitted, tf.float32))

    def serve_encoded(images):
        indices, pixels = decode_request(images, image_size, evaluation_resize_mode)
        # One blank image more, dropped below, so that the network never sees an empty batch (all bad).
        decoded_scores = scores(tf.concat([pixels, tf.zeros([1, *image_size, 3])], 0))
        decoded = tf.size(indices, out_type=tf.int64)
        # Row r of the response is row position[r] of the decoded images' outputs, or (not decoded) a fill row
        # appended after them.
        position = tf.tensor_scatter_nd_update(tf.fill(tf.shape(images, out_type=tf.int64), decoded),
                                               indices[:, None], tf.range(decoded))

        def in_request_order(key, fill):
            values = decoded_scores[key][:-1]
            fill_row = tf.fill(tf.concat([[1], tf.shape(values)[1:]], 0), tf.constant(fill, values.dtype))
            return tf.gather(tf.concat([values, fill_row], 0), position)

        return {key: in_request_order(key, fill) for key, fill in (
            ("probabilities", np.nan), ("rare_scores", np.nan), ("background_probability", np.nan),
            ("top_class", ""), ("above_threshold", False), ("decoded", False))}

    archive = keras.export.ExportArchive()
    archive.track(network)
    for name, function in (("serving_default", serve_encoded), ("predict_images", predict_images)):
        archive.add_endpoint(name, function, input_signature=[INPUT_SPECS[name]])
    archive.write_out(str(path), verbose=False)
    extra = path / "assets.extra"
    extra.mkdir()
    warmup.write_warmup_requests(extra, INPUT_SPECS, image_size)
    if model_card is not None:
        (extra / MODEL_CARD_FILE).write_text(model_card)
    (extra / "class_names.txt").write_text("\n".join(class_names) + "\n")
    per_class = {name: [dataclasses.asdict(p) for p in points] for name, points in (operating_points or {}).items()}
    (extra / "operating_points.json").write_text(json.dumps({"target_precisions": targets, "per_class": per_class},
                                                            indent=2))
    (extra / "model_info.json").write_text(json.dumps(
        {"class_names": list(class_names), "image_size": list(image_size), "target_precisions": targets,
         recipes.RESIZE_MODE_KEY: evaluation_resize_mode}, indent=2))
    return path


def export_run(run_dir: str | pathlib.Path, export_dir: str | pathlib.Path, version: int | None = None) -> pathlib.Path:
    """Exports a finished bgsplit-train run (its model.keras and metrics.json), with its model card (not
    for a labelling session's current model, whose metrics name only its categories and round). A run_dir
    that is a symbolic link (a search's current/) is resolved once, so that a search publishing its next
    round meanwhile cannot mix two rounds' files."""
    run_dir = pathlib.Path(run_dir).resolve()
    model_path, metrics_path = run_dir / "model.keras", run_dir / run_results.METRICS_FILE
    for required in (model_path, metrics_path):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing: --run_dir must be the --output_dir of a finished "
                                    "bgsplit-train run")
    results = run_results.read_model_folder(metrics_path)
    network = keras.models.load_model(model_path)
    if isinstance(results, run_results.LabellingRound):
        return export_saved_model(network, results.class_names, export_dir, version=version)
    return export_saved_model(network, results.task.class_names, export_dir, results.operating_points,
                              results.eval_logit_offset, version, model_card_lib.model_card(results),
                              results.evaluation_resize_mode)
