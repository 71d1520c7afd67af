"""A finished run's model card: its RunResults -> Markdown, for whoever decides whether and how to use
the model.

bgsplit-train writes it to <output_dir>/model_card.md and the export to
<version>/assets.extra/model_card.md. Sections: the rare classes and their image counts per split, the
teacher, trunk, method and training flags, validation and test AP, the validation operating points, how
to call the SavedModel, and the limits that follow from the data. Every number comes from the run's
results (evaluation.run_results: task summary, flags, val, test, operating points); nothing is measured
here.
"""

from __future__ import annotations

from bgsplit_tf.data import image_files, rare_task
from bgsplit_tf.evaluation import run_results
from bgsplit_tf.models import pretrained
from bgsplit_tf.models.pretrained import efficientnet_lite

DEFAULT_TEACHER = pretrained.EMBEDDED_PREFIX + pretrained.DEFAULT_EMBEDDED
# Flags of the imbalance methods, each off at its default; the card lists those that are not.
IMBALANCE_FLAGS = ("focal_gamma", "cb_beta", "reweight_from_epoch", "ldam_max_margin", "logit_adjustment",
                   "rare_batch_fraction")
TRAINING_FLAGS = ("epochs", "learning_rate", "lr_schedule", "batch_size", "seed")


def model_card(results: run_results.RunResults) -> str:
    """The Markdown model card of a finished run, from its results (what training.run.run_training
    returns, or RunResults.read of its metrics.json)."""
    sections = (_summary(results), _data(results), _model(results), _results(results), _operating_points(results),
                _usage(results), _limits(results))
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table: header, then one row per list; the first column left-aligned, the others right."""
    return [f"| {' | '.join(header)} |", "|---|" + "---:|" * (len(header) - 1),
            *(f"| {' | '.join(str(cell) for cell in row)} |" for row in rows)]


def _summary(results: run_results.RunResults) -> list[str]:
    rare = results.task.rare_categories
    return [f"# Model card: {', '.join(rare)}", "",
            f"An image classifier, trained with bgsplit_tf, that scores images for {len(rare)} rare "
            f"{'class' if len(rare) == 1 else 'classes'} ({', '.join(rare)}) against everything else "
            f"(background): {len(rare) + 1} probabilities, background first. Meant for ranking a pool of images to "
            "review for these classes, and for flagging them at the validation operating points below."]


def _data(results: run_results.RunResults) -> list[str]:
    task, flag, splits = results.task, results.flag, run_results.SPLITS
    counts = {split: task.split(split).counts for split in splits}
    lines = ["## Data", "",
             f"`{flag('dataset')}`: split `{flag('train_split')}` for training, "
             f"`{flag('val_split')}` for validation (model selection and thresholds), "
             f"`{flag('test_split')}` for test. Images per class:", "",
             *_table(["class", *splits], [[name, *(f"{counts[split][name]:,}" for split in splits)]
                                          for name in counts["train"]]),
             "",
             f"Training images: {task.train.background_fraction:.2%} background "
             f"({counts['train'][rare_task.BACKGROUND]:,} of {sum(counts['train'].values()):,} labelled); "
             f"validation {task.validation.background_fraction:.2%}, test {task.test.background_fraction:.2%}."]
    if task.train.unlabeled:
        lines.append(f"Also {task.train.unlabeled:,} unlabeled training images (auxiliary loss only).")
    bad = {split: n for split, n in results.bad_images.items() if n}
    if bad:
        lines.append("Left out because they did not decode: " + ", ".join(f"{n:,} in `{s}`" for s, n in bad.items())
                     + ".")
    return lines


def _model(results: run_results.RunResults) -> list[str]:
    """With what the run's --input_recipe chose (absent from runs of earlier versions) and the trunk's
    precision."""
    flag, recipe = results.flag, results.input_recipe
    teacher, trunk = flag("teacher"), flag("trunk")
    inputs = [] if recipe is None else [
        f"- Input: the `{recipe.recipe}` recipe ({recipe.reason}); the model sees each image as "
        f"{image_files.describe_resize_mode(recipe.evaluation_resize_mode, 'its input size')} (training augmentation: "
        f"`{recipe.augmentation}`), and so do both serving signatures"]
    trunk_text = f"`{trunk}`" if trunk else "the teacher's trunk (copied from it)"
    if flag("frozen_through"):
        trunk_text += f", frozen through `{flag('frozen_through')}` (only the layers after it trained)"
    if flag("freeze_batch_norm"):
        trunk_text += ", batch norm kept as the teacher's"
    teacher_text = f"`{teacher}`" if teacher else f"`{DEFAULT_TEACHER}` (the default)"
    if str(teacher).startswith(efficientnet_lite.PREFIX):
        teacher_text += f": {efficientnet_lite.describe(teacher)}"
    imbalance = [_setting(results, name) for name in IMBALANCE_FLAGS
                 if flag(name) != getattr(run_results.DEFAULT_CONFIG, name)]
    return ["## Model", "",
            f"- Teacher: {teacher_text}",
            f"- Trunk: {trunk_text}" + (", frozen" if flag("freeze_trunk") else ""),
            f"- Method: {_method(results)}",
            f"- Imbalance methods: {', '.join(imbalance) if imbalance else 'none'}",
            *inputs,
            f"- Trunk precision: {results.precision.chosen} ({results.precision.reason})",
            f"- Training: {', '.join(_setting(results, name) for name in TRAINING_FLAGS)}"]


def _setting(results: run_results.RunResults, name: str) -> str:
    """`name=value`; logit adjustment with its tau."""
    text = f"`{name}={results.flag(name)}`"
    return f"{text} (`la_tau={results.flag('la_tau')}`)" if name == "logit_adjustment" else text


def _method(results: run_results.RunResults) -> str:
    aux_weight = results.flag("aux_weight")
    if not aux_weight:
        return "fine-tuning (`aux_weight=0`: the main head's loss only, no auxiliary loss)"
    targets = results.flag("aux_targets")
    described = ("the teacher's top class" if targets == "hard" else
                 f"the teacher's distribution at temperature {results.flag('temperature')}")
    return (f"Background Splitting: main loss + lambda x auxiliary loss, lambda = `aux_weight={aux_weight}`; the "
            f"auxiliary head learns the teacher's classes (`aux_targets={targets}`: {described})")


def _results(results: run_results.RunResults) -> list[str]:
    val, test = results.val, results.test
    return ["## Results", "",
            f"Validation mAP {val.mAP:.3f}, test mAP {test.mAP:.3f} (mean average precision over the rare "
            "classes; background excluded). Test was evaluated once, after training.", "",
            *_table(["class", "validation AP", "test AP"],
                    [[name, f"{val.ap[name]:.3f}", f"{test.ap[name]:.3f}"] for name in results.task.rare_categories])]


def _operating_points(results: run_results.RunResults) -> list[str]:
    points = results.operating_points
    if not points:
        return ["## Operating points", "", "None were computed: `above_threshold` has no columns (P = 0)."]
    positives = results.task.validation.counts
    rows = [[name, *(_point(p, positives[name]) for p in points[name])] for name in results.task.rare_categories]
    return ["## Operating points", "",
            "Score thresholds on `rare_scores`, chosen on validation: for each target precision, the lowest "
            "threshold at which the validation precision reaches it; recall is the share of the class's "
            "validation positives scoring at or above it. The SavedModel's `above_threshold` applies them.", "",
            *_table(["class", *(f"precision >= {t}" for t in _targets(results))], rows)]


def _targets(results: run_results.RunResults) -> list[float]:
    """The target precisions of the operating points (the same for every class)."""
    return [point.target_precision for point in results.operating_points[results.task.rare_categories[0]]]


def _point(point: run_results.OperatingPoint, positives: int) -> str:
    """One table cell: threshold and recall (with the positives it counts), or unreachable."""
    if point.threshold is None:
        return "unreachable"
    return (f"score >= {point.threshold:.4g}: recall {point.recall:.2f} "
            f"({round(point.recall * positives)} of {positives})")


def _usage(results: run_results.RunResults) -> list[str]:
    rare, k = ", ".join(results.task.rare_categories), len(results.task.rare_categories)
    p = len(_targets(results)) if results.operating_points else 0
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


def _limits(results: run_results.RunResults) -> list[str]:
    return ["## Limits", "", *(f"- {line}" for line in (
        _threshold_support(results), *_unreachable(results), _training_positives(results),
        _prevalence(results), _test_support(results)) if line)]


def _per_class(counts: dict[str, int], rare: tuple[str, ...], what: str) -> str:
    """"N <what> of each class" when all are equal, else "N <what> of X, M of Y, ..."; <what> is plural,
    its last letter dropped for one ("1 training image")."""
    first, *others = rare
    if all(counts[name] == counts[first] for name in others):
        return f"{counts[first]:,} {what[:-1] if counts[first] == 1 else what} of each class"
    return ", ".join([f"{counts[first]:,} {what} of {first}", *(f"{counts[name]:,} of {name}" for name in others)])


def _threshold_support(results: run_results.RunResults) -> str:
    if not results.operating_points:
        return ""
    chosen_on = _per_class(results.task.validation.counts, results.task.rare_categories, "validation positives")
    return (f"The thresholds were chosen on {chosen_on}: a "
            "class's recall there moves in steps of one positive (1/N for N positives) and its precision counts "
            "only the images above its threshold, so expect both to differ on new images.")


def _unreachable(results: run_results.RunResults) -> list[str]:
    """Per target precision, the classes no validation threshold reached it for."""
    points = results.operating_points
    if not points:
        return []
    lines = []
    for p, target in enumerate(_targets(results)):
        missed = [name for name in results.task.rare_categories if points[name][p].threshold is None]
        if missed:
            lines.append(f"Precision {target} was unreachable on validation for {len(missed)} of {len(points)} "
                         f"classes ({', '.join(missed)}): `above_threshold` is always false for them at it.")
    return lines


def _training_positives(results: run_results.RunResults) -> str:
    counts, rare = results.task.train.counts, results.task.rare_categories
    return (f"The rare classes were learned from {_per_class(counts, rare, 'training images')}: appearances unlike "
            "these may be missed.")


def _prevalence(results: run_results.RunResults) -> str:
    train, validation = results.task.train.background_fraction, results.task.validation.background_fraction
    resampled = results.flag("rare_batch_fraction")
    batches = f" (resampled so that rare images made up {resampled} of each batch)" if resampled else ""
    return (f"The model was trained on {train:.2%} background{batches} and its thresholds were chosen on "
            f"{validation:.2%} background (validation). A threshold's precision holds only at validation's "
            "prevalence: where the rare classes are rarer than that, it flags more background per true positive and "
            "its precision is lower. The scores are not probabilities at your prevalence; use them to rank.")


def _test_support(results: run_results.RunResults) -> str:
    counts = results.task.test.counts
    return f"The test APs rest on {_per_class(counts, results.task.rare_categories, 'test positives')}."
