"""A run's results as typed records, and the one reader and writer of metrics.json.

bgsplit-train writes <output_dir>/metrics.json last, as the mark of a finished run (RunResults.write);
the experiments' resume, their ledgers, the model card and bgsplit-export read it (RunResults.read).
Its layout is this module's: the keys are the fields below, nested as the records nest, in their order
(one JSON object per record, tuples as lists; an optional record that is None is left out).

A labelling session's current model (search.loop) is a model folder too, whose metrics.json names only
its categories and round (LabellingRound); read_model_folder reads either kind.

Files of earlier versions are read with what they lacked at what it meant when they were written:
  task/<split>/unlabeled   0: no unlabeled images before they were supported (6d3c5a4)
  wall_seconds             train_seconds, a lower bound: only the training was timed before 674b1d1
  operating_points         {}: none computed before 670db73 (an export's above_threshold has no columns)
  bad_images               {}: none left out before cedcc0d (an image that did not decode stopped the run)
  mechanism                None: not measured before 25c55d6 (nor, today, with --nomechanism)
  input_recipe             None: before d6d77ae every run stretched its images (resize mode STRETCH);
                           its resize mode was recorded as evaluation_fit before d7a2697
  precision                what the run's --mixed_precision said (off before that flag): runs before
                           e1f9ea8 had no auto, so the flag was the choice
  phase_seconds            {}: not timed before 643933c
Keys this version does not know (a newer version's) are ignored on purpose: reading never rewrites the
file, so nothing is lost, and a record only holds what this version can interpret. A file that is not
JSON, or lacks or mistypes a field without a default, raises ValueError naming the file and the field
(task/validation/counts), and the file stays as it was.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

from bgsplit_tf import config as config_lib, json_files
from bgsplit_tf.data import image_files, rare_task, recipes

METRICS_FILE = "metrics.json"  # in a run's --output_dir; written last, its presence marks a finished run
SPLITS = ("train", "validation", "test")  # the task summary's splits: --train_split, --val_split, --test_split
DEFAULT_CONFIG = config_lib.TrainConfig()


@dataclasses.dataclass(frozen=True)
class MapSummary:
    """Average precision on one split: mAP over the K rare classes (background excluded) and the AP of
    each ({rare class name: AP}, in class order)."""

    mAP: float
    ap: dict[str, float]


@dataclasses.dataclass(frozen=True)
class OperatingPoint:
    """The lowest score threshold whose precision reaches target_precision (evaluation.metrics.
    operating_point), with the precision and recall it gives; threshold None where no threshold
    reaches it (never predict positive; precision and recall 0)."""

    target_precision: float
    threshold: float | None
    precision: float
    recall: float


# {rare class name: an OperatingPoint per target precision} (evaluation.validation.operating_points)
OperatingPoints = dict[str, tuple[OperatingPoint, ...]]


@dataclasses.dataclass(frozen=True)
class TaskSummary:
    """The rare task a run trained on: its K rare categories (names, and source label ids in the same
    order) and a rare_task.SplitSummary per split (SPLITS)."""

    rare_categories: tuple[str, ...]
    category_ids: tuple[int, ...]
    train: rare_task.SplitSummary
    validation: rare_task.SplitSummary
    test: rare_task.SplitSummary

    @property
    def class_names(self) -> tuple[str, ...]:
        """The K + 1 main-head class names, background first."""
        return (rare_task.BACKGROUND, *self.rare_categories)

    def split(self, name: str) -> rare_task.SplitSummary:
        """The summary of one of SPLITS, by name."""
        return getattr(self, name)


@dataclasses.dataclass(frozen=True)
class MechanismSummary:
    """What a run's mechanism probe (evaluation.mechanism) keeps beyond its per-epoch history: the
    teacher's own background rank (None without a teacher trunk) and the probe set's size."""

    teacher_background_rank: float | None
    probe_images: int


@dataclasses.dataclass(frozen=True)
class TrunkPrecision:
    """The trunk's compute precision a run chose (training.precision: off, bfloat16 or float16), the
    --mixed_precision setting and why, in words; the CPU's bfloat16 flags that decided it, if any; and,
    when auto timed the step, the seconds per step of each precision ({"float32": s, "bfloat16": s})
    and whether they came from the cache of an earlier run."""

    chosen: str
    setting: str
    reason: str
    cpu_flags: tuple[str, ...] = ()
    step_seconds: dict[str, float] | None = None
    timings_cached: bool = False


@dataclasses.dataclass(frozen=True)
class RunResults:
    """What a finished bgsplit-train run measured and chose, as metrics.json holds it.

    test, val: mAP and AP per rare class (val: the last validated epoch). task: the rare task and its
    counts. history: Keras' per-epoch logs ({name: one value per epoch}: losses, val_mAP, the
    mechanism's mech_*). bad_images: {split name: images left out because they did not decode}.
    train_seconds: the epochs' wall time; train_images_per_second: training images over it. config:
    the run's flags ({TrainConfig field: value}, flag_record; see flag()). operating_points: on
    validation. input_recipe: how images became the input. mechanism: the probe's summary, None
    without one. eval_logit_offset: float [K + 1] added to the main logits in evaluation
    (--logit_adjustment=posthoc), else None. precision: the trunk's. wall_seconds: the run's wall
    time up to writing its outputs, and phase_seconds where it went ({phases name: seconds}).
    """

    test: MapSummary
    val: MapSummary
    task: TaskSummary
    history: dict[str, tuple[float, ...]]
    bad_images: dict[str, int]
    train_seconds: float
    train_images_per_second: float
    config: dict[str, Any]
    operating_points: OperatingPoints
    input_recipe: recipes.InputRecipe | None
    mechanism: MechanismSummary | None
    eval_logit_offset: tuple[float, ...] | None
    precision: TrunkPrecision
    wall_seconds: float
    phase_seconds: dict[str, float]

    def flag(self, name: str) -> Any:
        """The value of flag `name` the run trained with; today's default where the run predates it."""
        return self.config.get(name, getattr(DEFAULT_CONFIG, name))

    @property
    def evaluation_resize_mode(self) -> str:
        """How evaluation resized images to the input (image_files.RESIZE_MODES): the recipe's; runs from
        before input recipes stretched them."""
        return image_files.STRETCH if self.input_recipe is None else self.input_recipe.evaluation_resize_mode

    def to_json(self) -> dict:
        """metrics.json's object: the fields in order, records as objects, None records left out."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Any, file: str = METRICS_FILE) -> "RunResults":
        """The RunResults of a metrics.json object (to_json's, or an earlier version's: module docstring).
        ValueError naming `file` and the field if it is not a finished run's."""
        fields = _Fields(data, file)
        if _is_labelling_round(fields):
            raise ValueError(f"{file} is the metrics.json of a labelling session's model (round "
                             f"{fields.value('round', int)}), not of a finished bgsplit-train run")
        config = fields.value("config", dict)
        train_seconds = fields.value("train_seconds", float)
        history = fields.nested("history")
        points = fields.nested("operating_points", default=None)
        recipe = fields.nested("input_recipe", default=None)
        probe = fields.nested("mechanism", default=None)
        offset = fields.items("eval_logit_offset", float, default=None)
        precision = fields.nested("precision", default=None)
        return cls(
            test=_map_summary(fields.nested("test")),
            val=_map_summary(fields.nested("val")),
            task=_task_summary(fields.nested("task")),
            history={name: tuple(history.items(name, float)) for name in history.keys()},
            bad_images=fields.mapping("bad_images", int, default={}),
            train_seconds=train_seconds,
            train_images_per_second=fields.value("train_images_per_second", float),
            config=config,
            operating_points={} if points is None else {
                name: tuple(_operating_point(point) for point in points.objects(name)) for name in points.keys()},
            input_recipe=None if recipe is None else recipes.InputRecipe(
                recipe.value("recipe", str), recipe.value("reason", str), recipes.recorded_resize_mode(recipe.data),
                recipe.value("augmentation", str)),
            mechanism=None if probe is None else MechanismSummary(
                probe.value("teacher_background_rank", float, none=True), probe.value("probe_images", int)),
            eval_logit_offset=None if offset is None else tuple(offset),
            precision=_precision_of_flags(config) if precision is None else _trunk_precision(precision),
            wall_seconds=fields.value("wall_seconds", float, default=train_seconds),
            phase_seconds=fields.mapping("phase_seconds", float, default={}),
        )

    def write(self, path: str | pathlib.Path) -> None:
        """Writes metrics.json (to_json) whole or not at all: to a temporary name, then renamed."""
        json_files.write_whole(path, self.to_json())

    @classmethod
    def read(cls, path: str | pathlib.Path) -> "RunResults":
        """The RunResults a metrics.json holds (from_json); ValueError naming the file if it is not one."""
        return cls.from_json(_load(pathlib.Path(path)), str(path))


@dataclasses.dataclass(frozen=True)
class LabellingRound:
    """The metrics.json of a labelling session's current model (search.loop): its rare categories and the
    round that trained it; nothing was evaluated (no model card, operating points or input recipe)."""

    rare_categories: tuple[str, ...]
    round: int

    @property
    def class_names(self) -> tuple[str, ...]:
        """The K + 1 main-head class names, background first."""
        return (rare_task.BACKGROUND, *self.rare_categories)

    def write(self, path: str | pathlib.Path) -> None:
        """Writes its metrics.json ({"task": {"rare_categories": [...]}, "round": n}) whole or not at all."""
        json_files.write_whole(path, {"task": {"rare_categories": list(self.rare_categories)}, "round": self.round})


def read_model_folder(path: str | pathlib.Path) -> RunResults | LabellingRound:
    """The metrics.json of a model folder: a finished bgsplit-train run's RunResults, or the
    LabellingRound of a labelling session's current model. ValueError naming the file if it is neither."""
    path = pathlib.Path(path)
    fields = _Fields(_load(path), str(path))
    if _is_labelling_round(fields):
        return LabellingRound(tuple(fields.nested("task").items("rare_categories", str)), fields.value("round", int))
    return RunResults.from_json(fields.data, str(path))


def _is_labelling_round(fields: "_Fields") -> bool:
    """Whether a metrics.json object is a labelling session's (a round, and no test results)."""
    return "round" in fields and "test" not in fields


def flag_record(config: config_lib.TrainConfig) -> dict[str, Any]:
    """A run's flags as RunResults.config holds them: every TrainConfig field, tuples as lists (as
    metrics.json gives them back)."""
    return {key: (list(value) if isinstance(value, tuple) else value) for key, value in vars(config).items()}


def _precision_of_flags(config: dict) -> TrunkPrecision:
    """The precision of a run from before metrics.json recorded it: its --mixed_precision (there was no
    auto then), or float32 if it predates that flag too."""
    if "mixed_precision" not in config:
        return TrunkPrecision("off", "off", "float32: the run predates --mixed_precision")
    setting = config["mixed_precision"]
    return TrunkPrecision(setting, setting, f"--mixed_precision={setting}")


def _map_summary(fields: "_Fields") -> MapSummary:
    return MapSummary(fields.value("mAP", float), fields.mapping("ap", float))


def _operating_point(fields: "_Fields") -> OperatingPoint:
    return OperatingPoint(fields.value("target_precision", float), fields.value("threshold", float, none=True),
                          fields.value("precision", float), fields.value("recall", float))


def _task_summary(fields: "_Fields") -> TaskSummary:
    return TaskSummary(rare_categories=tuple(fields.items("rare_categories", str)),
                       category_ids=tuple(fields.items("category_ids", int)),
                       **{split: _split_summary(fields.nested(split)) for split in SPLITS})


def _split_summary(fields: "_Fields") -> rare_task.SplitSummary:
    return rare_task.SplitSummary(num_examples=fields.value("num_examples", int), counts=fields.mapping("counts", int),
                                  unlabeled=fields.value("unlabeled", int, default=0),
                                  background_fraction=fields.value("background_fraction", float))


def _trunk_precision(fields: "_Fields") -> TrunkPrecision:
    return TrunkPrecision(chosen=fields.value("chosen", str), setting=fields.value("setting", str),
                          reason=fields.value("reason", str),
                          cpu_flags=tuple(fields.items("cpu_flags", str, default=())),
                          step_seconds=fields.mapping("step_seconds", float, default=None),
                          timings_cached=fields.value("timings_cached", bool, default=False))


_NO_DEFAULT = object()
_KINDS = {float: "a number", int: "a whole number", str: "a string", bool: "true or false", list: "a list",
          dict: "an object"}


def _is(value: Any, kind: type) -> bool:
    """Whether a JSON value is of `kind`: float takes any number (JSON writes 2.0 as 2), int only whole
    ones, neither takes true or false."""
    if kind in (float, int) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


class _Fields:
    """One JSON object of a metrics.json, read field by field: a missing or mistyped field raises a
    ValueError naming the file and the field's path in it (task/validation/counts). Numbers are read as
    float where a float is asked for (JSON writes 2.0 as 2)."""

    def __init__(self, data: Any, file: str, where: str = ""):
        self.data, self.file, self.where = data, file, where
        if not isinstance(data, dict):
            raise self._error(where or "its top level", f"is {_described(data)}, not an object")

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return list(self.data)

    def _path(self, key: str) -> str:
        return f"{self.where}/{key}" if self.where else key

    def _error(self, path: str, problem: str) -> ValueError:
        return ValueError(f"{self.file} is not the metrics.json of a finished bgsplit-train run: {path} {problem}")

    def _checked(self, value: Any, kind: type, path: str) -> Any:
        if not _is(value, kind):
            raise self._error(path, f"is {_described(value)}, not {_KINDS[kind]}")
        return float(value) if kind is float else value

    def value(self, key: str, kind: type, default: Any = _NO_DEFAULT, none: bool = False) -> Any:
        """The field `key`, of `kind` (or null where `none`); `default` where it is absent, if given."""
        if key not in self.data:
            if default is _NO_DEFAULT:
                raise self._error(self._path(key), "is missing")
            return default
        value = self.data[key]
        return None if none and value is None else self._checked(value, kind, self._path(key))

    def nested(self, key: str, default: Any = _NO_DEFAULT) -> "_Fields | Any":
        """The object `key`, to read on; `default` where it is absent or null, if given."""
        if default is not _NO_DEFAULT and self.data.get(key) is None:
            return default
        return _Fields(self.value(key, dict), self.file, self._path(key))

    def mapping(self, key: str, kind: type, default: Any = _NO_DEFAULT) -> dict:
        """The object `key`, its values all of `kind`, as a dict; `default` where it is absent or null, if
        given."""
        if default is not _NO_DEFAULT and self.data.get(key) is None:
            return default
        fields = self.nested(key)
        return {name: fields.value(name, kind) for name in fields.keys()}

    def items(self, key: str, kind: type, default: Any = _NO_DEFAULT) -> list:
        """The list `key`, its items all of `kind`; `default` where it is absent or null, if given."""
        if default is not _NO_DEFAULT and self.data.get(key) is None:
            return default
        return [self._checked(item, kind, f"{self._path(key)}/{index}")
                for index, item in enumerate(self.value(key, list))]

    def objects(self, key: str) -> list["_Fields"]:
        """The list `key` of objects, each to read on."""
        return [_Fields(item, self.file, f"{self._path(key)}/{index}")
                for index, item in enumerate(self.value(key, list))]


def _described(value: Any) -> str:
    """A JSON value in a few words, for an error message."""
    text = json.dumps(value)
    if value is None or isinstance(value, bool):
        return text
    return f"{_KINDS.get(type(value), type(value).__name__)} ({text if len(text) <= 40 else text[:37] + '...'})"


def _load(path: pathlib.Path) -> Any:
    """The JSON in `path`; ValueError naming the file where it is not JSON."""
    text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not JSON ({error}), so not the metrics.json of a finished bgsplit-train "
                         "run (which is written whole or not at all)") from None
