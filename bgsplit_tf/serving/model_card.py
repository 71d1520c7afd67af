"""A finished run's model card: its metrics.json dict -> Markdown, for whoever decides whether and how to
use the model.

bgsplit-train writes it to <output_dir>/model_card.md and the export to
<version>/assets.extra/model_card.md. Sections: the rare classes and their image counts per split, the
teacher, trunk, method and training flags, validation and test AP, the validation operating points, how
to call the SavedModel, and the limits that follow from the data. Every number comes from the dict
(training.run's results: task summaries, config, val, test, operating_points); nothing is measured
here.
"""

from __future__ import annotations

from bgsplit_tf import config as config_lib
from bgsplit_tf.data import image_files, rare_task, recipes
from bgsplit_tf.models import pretrained
from bgsplit_tf.models.pretrained import efficientnet_lite

SPLITS = ("train", "validation", "test")
REQUIRED_KEYS = (("task", "rare_categories"), *(("task", split, key) for split in SPLITS
                                                for key in ("counts", "background_fraction")),
                 ("config",), ("val", "mAP"), ("val", "ap"), ("test", "mAP"), ("test", "ap"), ("operating_points",))
DEFAULT_TEACHER = pretrained.EMBEDDED_PREFIX + pretrained.DEFAULT_EMBEDDED
# Flags of the imbalance methods, each off at its default; the card lists those that are not.
IMBALANCE_FLAGS = ("focal_gamma", "cb_beta", "reweight_from_epoch", "ldam_max_margin", "logit_adjustment",
                   "rare_batch_fraction")
TRAINING_FLAGS = ("epochs", "learning_rate", "lr_schedule", "batch_size", "seed")
DEFAULTS = config_lib.TrainConfig()


def model_card(metrics: dict) -> str:
    """The Markdown model card of a finished run. metrics: the run's metrics.json dict (what
    training.run.run_training returns). ValueError naming the first missing key if it is not one."""
    _check(metrics)
    sections = (_summary(metrics), _data(metrics),
                _model(metrics["config"], metrics.get("input_recipe"), metrics.get("precision")), _results(metrics),
                _operating_points(metrics), _usage(metrics), _limits(metrics))
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def describes_a_training_run(metrics: dict) -> bool:
    """Whether the metrics hold what a card needs (a bgsplit-train run's do; a labelling session's
    current model's, which names only its categories, do not)."""
    return _first_missing(metrics) is None


def _check(metrics: dict) -> None:
    """ValueError naming the first of REQUIRED_KEYS the dict lacks."""
    missing = _first_missing(metrics)
    if missing is not None:
        raise ValueError(f"the metrics have no {missing}: a model card is made from the metrics.json of a finished "
                         "bgsplit-train run")


def _first_missing(metrics: dict) -> str | None:
    """The first of REQUIRED_KEYS the dict lacks, as a/b/c, or None."""
    for path in REQUIRED_KEYS:
        node = metrics
        for depth, key in enumerate(path):
            if not isinstance(node, dict) or key not in node:
                return "/".join(path[:depth + 1])
            node = node[key]
    return None


def _flag(config: dict, name: str):
    """A flag of the run; its default when the metrics predate the flag."""
    return config.get(name, getattr(DEFAULTS, name))


def _rare(metrics: dict) -> list[str]:
    return metrics["task"]["rare_categories"]


def _counts(metrics: dict, split: str) -> dict[str, int]:
    """{class name (background first): images} of a split."""
    return metrics["task"][split]["counts"]


def _background_fraction(metrics: dict, split: str) -> float:
    """The fraction of a split's labelled images that are background."""
    return metrics["task"][split]["background_fraction"]


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: header, then one row per list; the first column left-aligned, the others right."""
    return [f"| {' | '.join(header)} |", "|---|" + "---:|" * (len(header) - 1),
            *(f"| {' | '.join(str(cell) for cell in row)} |" for row in rows)]


def _summary(metrics: dict) -> list[str]:
    rare = _rare(metrics)
    return [f"# Model card: {', '.join(rare)}", "",
            f"An image classifier, trained with bgsplit_tf, that scores images for {len(rare)} rare "
            f"{'class' if len(rare) == 1 else 'classes'} ({', '.join(rare)}) against everything else "
            f"(background): {len(rare) + 1} probabilities, background first. Meant for ranking a pool of images to "
            "review for these classes, and for flagging them at the validation operating points below."]


def _data(metrics: dict) -> list[str]:
    config, counts = metrics["config"], {split: _counts(metrics, split) for split in SPLITS}
    lines = ["## Data", "",
             f"`{_flag(config, 'dataset')}`: split `{_flag(config, 'train_split')}` for training, "
             f"`{_flag(config, 'val_split')}` for validation (model selection and thresholds), "
             f"`{_flag(config, 'test_split')}` for test. Images per class:", "",
             *_table(["class", *SPLITS], [[name, *(f"{counts[split][name]:,}" for split in SPLITS)]
                                          for name in counts["train"]]),
             "",
             f"Training images: {_background_fraction(metrics, 'train'):.2%} background "
             f"({counts['train'][rare_task.BACKGROUND]:,} of {sum(counts['train'].values()):,} labelled); "
             f"validation {_background_fraction(metrics, 'validation'):.2%}, test "
             f"{_background_fraction(metrics, 'test'):.2%}."]
    unlabeled = metrics["task"]["train"].get("unlabeled", 0)
    if unlabeled:
        lines.append(f"Also {unlabeled:,} unlabeled training images (auxiliary loss only).")
    bad = {split: n for split, n in metrics.get("bad_images", {}).items() if n}
    if bad:
        lines.append("Left out because they did not decode: " + ", ".join(f"{n:,} in `{s}`" for s, n in bad.items())
                     + ".")
    return lines


def _model(config: dict, input_recipe: dict | None, precision: dict | None) -> list[str]:
    """input_recipe, precision: metrics.json's records of what --input_recipe and --mixed_precision chose
    (absent from runs of earlier versions)."""
    teacher, trunk = _flag(config, "teacher"), _flag(config, "trunk")
    inputs = [] if input_recipe is None else [
        f"- Input: the `{input_recipe['recipe']}` recipe ({input_recipe['reason']}); the model sees each image as "
        f"{image_files.describe_resize_mode(recipes.recorded_resize_mode(input_recipe), 'its input size')} "
        "(training augmentation: "
        f"`{input_recipe['augmentation']}`), and so do both serving signatures"]
    trunk_text = f"`{trunk}`" if trunk else "the teacher's trunk (copied from it)"
    if _flag(config, "frozen_through"):
        trunk_text += f", frozen through `{_flag(config, 'frozen_through')}` (only the layers after it trained)"
    if _flag(config, "freeze_batch_norm"):
        trunk_text += ", batch norm kept as the teacher's"
    teacher_text = f"`{teacher}`" if teacher else f"`{DEFAULT_TEACHER}` (the default)"
    if str(teacher).startswith(efficientnet_lite.PREFIX):
        teacher_text += f": {efficientnet_lite.describe(teacher)}"
    imbalance = [_setting(config, name) for name in IMBALANCE_FLAGS
                 if _flag(config, name) != getattr(DEFAULTS, name)]
    return ["## Model", "",
            f"- Teacher: {teacher_text}",
            f"- Trunk: {trunk_text}" + (", frozen" if _flag(config, "freeze_trunk") else ""),
            f"- Method: {_method(config)}",
            f"- Imbalance methods: {', '.join(imbalance) if imbalance else 'none'}",
            *inputs,
            *([] if precision is None else [f"- Trunk precision: {precision['chosen']} ({precision['reason']})"]),
            f"- Training: {', '.join(_setting(config, name) for name in TRAINING_FLAGS)}"]


def _setting(config: dict, name: str) -> str:
    """`name=value`; logit adjustment with its tau."""
    text = f"`{name}={_flag(config, name)}`"
    return f"{text} (`la_tau={_flag(config, 'la_tau')}`)" if name == "logit_adjustment" else text


def _method(config: dict) -> str:
    aux_weight = _flag(config, "aux_weight")
    if not aux_weight:
        return "fine-tuning (`aux_weight=0`: the main head's loss only, no auxiliary loss)"
    targets = _flag(config, "aux_targets")
    described = ("the teacher's top class" if targets == "hard" else
                 f"the teacher's distribution at temperature {_flag(config, 'temperature')}")
    return (f"Background Splitting: main loss + lambda x auxiliary loss, lambda = `aux_weight={aux_weight}`; the "
            f"auxiliary head learns the teacher's classes (`aux_targets={targets}`: {described})")


def _results(metrics: dict) -> list[str]:
    val, test = metrics["val"], metrics["test"]
    return ["## Results", "",
            f"Validation mAP {val['mAP']:.3f}, test mAP {test['mAP']:.3f} (mean average precision over the rare "
            "classes; background excluded). Test was evaluated once, after training.", "",
            *_table(["class", "validation AP", "test AP"],
                    [[name, f"{val['ap'][name]:.3f}", f"{test['ap'][name]:.3f}"] for name in _rare(metrics)])]


def _operating_points(metrics: dict) -> list[str]:
    points = metrics["operating_points"]
    if not points:
        return ["## Operating points", "", "None were computed: `above_threshold` has no columns (P = 0)."]
    positives = _counts(metrics, "validation")
    rows = [[name, *(_point(p, positives[name]) for p in points[name])] for name in _rare(metrics)]
    return ["## Operating points", "",
            "Score thresholds on `rare_scores`, chosen on validation: for each target precision, the lowest "
            "threshold at which the validation precision reaches it; recall is the share of the class's "
            "validation positives scoring at or above it. The SavedModel's `above_threshold` applies them.", "",
            *_table(["class", *(f"precision >= {t}" for t in _targets(metrics))], rows)]


def _targets(metrics: dict) -> list[float]:
    """The target precisions of the operating points (the same for every class)."""
    return [point["target_precision"] for point in metrics["operating_points"][_rare(metrics)[0]]]


def _point(point: dict, positives: int) -> str:
    """One table cell: threshold and recall (with the positives it counts), or unreachable."""
    if point["threshold"] is None:
        return "unreachable"
    return (f"score >= {point['threshold']:.4g}: recall {point['recall']:.2f} "
            f"({round(point['recall'] * positives)} of {positives})")


def _usage(metrics: dict) -> list[str]:
    rare, k = ", ".join(_rare(metrics)), len(_rare(metrics))
    p = len(_targets(metrics)) if metrics["operating_points"] else 0
    return ["## Using the SavedModel", "",
            "Two signatures, each with one input named `images`:", "",
            "- `serving_default`: `images` string [B], encoded JPEG, PNG, GIF or BMP files of any size, decoded "
            "and fitted to the input inside, as evaluation fitted them. A file that does not decode gets "
            "`decoded` false, NaN scores and an empty `top_class`; the others are scored.",
            "- `predict_images`: `images` uint8 [B, H, W, 3], RGB pixels of any size, fitted the same way inside "
            "(pixels already at the input size are taken as they are).", "",
            f"Both return `probabilities` float32 [B, {k + 1}] (background, {rare}), `rare_scores` float32 [B, {k}] "
            f"({rare}), `background_probability` float32 [B], `top_class` string [B], `above_threshold` bool "
            f"[B, {k}, {p}] (the target precisions above) and `decoded` bool [B].", "",
            "With TensorFlow alone:", "",
            "    import tensorflow as tf",
            "    model = tf.saved_model.load(\"<export_dir>/<version>\")",
            "    out = model.signatures[\"serving_default\"](images=tf.constant([open(\"photo.jpg\", \"rb\").read()]))",
            f"    out[\"rare_scores\"].numpy()  # float32 [1, {k}]", "",
            "Through TF Serving's REST API (an encoded file goes base64-encoded under \"b64\"; the response is "
            "{\"predictions\": [{output name: value, ...} per image]}):", "",
            "    curl -s -X POST http://localhost:8501/v1/models/<model name>:predict -d '{\"signature_name\": "
            "\"serving_default\",",
            "      \"instances\": [{\"images\": {\"b64\": \"<base64 of photo.jpg>\"}}]}'"]


def _limits(metrics: dict) -> list[str]:
    return ["## Limits", "", *(f"- {line}" for line in (
        _threshold_support(metrics), *_unreachable(metrics), _training_positives(metrics),
        _prevalence(metrics), _test_support(metrics)) if line)]


def _per_class(counts: dict[str, int], rare: list[str], what: str) -> str:
    """"N <what> of each class" when all are equal, else "N <what> of X, M of Y, ..."; <what> is plural,
    its last letter dropped for one ("1 training image")."""
    first, *others = rare
    if all(counts[name] == counts[first] for name in others):
        return f"{counts[first]:,} {what[:-1] if counts[first] == 1 else what} of each class"
    return ", ".join([f"{counts[first]:,} {what} of {first}", *(f"{counts[name]:,} of {name}" for name in others)])


def _threshold_support(metrics: dict) -> str:
    if not metrics["operating_points"]:
        return ""
    counts = _counts(metrics, "validation")
    return (f"The thresholds were chosen on {_per_class(counts, _rare(metrics), 'validation positives')}: a "
            "class's recall there moves in steps of one positive (1/N for N positives) and its precision counts "
            "only the images above its threshold, so expect both to differ on new images.")


def _unreachable(metrics: dict) -> list[str]:
    """Per target precision, the classes no validation threshold reached it for."""
    points = metrics["operating_points"]
    if not points:
        return []
    lines = []
    for p, target in enumerate(_targets(metrics)):
        missed = [name for name in _rare(metrics) if points[name][p]["threshold"] is None]
        if missed:
            lines.append(f"Precision {target} was unreachable on validation for {len(missed)} of {len(points)} "
                         f"classes ({', '.join(missed)}): `above_threshold` is always false for them at it.")
    return lines


def _training_positives(metrics: dict) -> str:
    counts, rare = _counts(metrics, "train"), _rare(metrics)
    return (f"The rare classes were learned from {_per_class(counts, rare, 'training images')}: appearances unlike "
            "these may be missed.")


def _prevalence(metrics: dict) -> str:
    config = metrics["config"]
    train, validation = _background_fraction(metrics, "train"), _background_fraction(metrics, "validation")
    resampled = _flag(config, "rare_batch_fraction")
    batches = f" (resampled so that rare images made up {resampled} of each batch)" if resampled else ""
    return (f"The model was trained on {train:.2%} background{batches} and its thresholds were chosen on "
            f"{validation:.2%} background (validation). A threshold's precision holds only at validation's "
            "prevalence: where the rare classes are rarer than that, it flags more background per true positive and "
            "its precision is lower. The scores are not probabilities at your prevalence; use them to rank.")


def _test_support(metrics: dict) -> str:
    return f"The test APs rest on {_per_class(_counts(metrics, 'test'), _rare(metrics), 'test positives')}."
