"""How fast one training configuration runs on this machine, and where the time goes.

Every figure comes from this one process, after warm-up, as the median of --repeats timed epochs of
--steps steps; the cases take turns, one epoch each per round, so a shared machine's drifts hit them
alike (compare ratios, not absolute figures across runs):

  a  our custom train_step (BackgroundSplittingModel), XLA on            images/s
  b  the same, XLA off                                                   images/s
  c  the peer a user would write: the same network with compile(loss={"main", "aux"},
     loss_weights=...) and fit, XLA on (c) and at Keras' default jit_compile="auto" (c_default)
  d  the full input pipeline (JPEG files decoded, augmented, rare classes resampled, teacher targets
     joined by id) feeding the step, cached in memory after the first epoch and decoding every epoch,
     against the same step fed from in-memory tensors: the input-bound fraction of step time
  e  cached teacher targets against running the teacher inside the step
d and e run at the XLA setting training uses by default here (--jit_compile unset: on with a GPU or
TPU, off on a CPU); "default_xla" in the JSON says which.
  h  our step with the trunk in bfloat16 (--mixed_precision=bfloat16) at the default XLA setting,
     against the same in float32: the ratio, beside the CPU flags that decide --mixed_precision=auto
  g  the streamed 224 px JPEG pipeline alone, no model (speed.photo_pipeline): images/s of the
     inception and stretch recipes and the evaluation view, and the cores a GPU would need
  f  FLOPs per training image (TF's profiler on the forward pass, x3 for forward + backward) and the
     achieved fraction of this CPU's peak FLOP/s: measured (a large matmul in the precision the step
     computes in: float32, and bfloat16 for case h) and nominal (cores x clock x FLOPs per cycle from
     the CPU's vector width, stated in the JSON)

With --frozen_through (e.g. block6d_add for --teacher=pretrained:efficientnet_lite0) every model case
trains only the top stages, on in-memory maps of the frozen lower trunk's output shape, as a run with
that flag trains them on its cached maps; cases d, e and g need pixels and are refused then.

Ratios come twice: from the medians, and from each case's fastest epoch ("ratios_fastest_epochs"),
the better estimate of undisturbed speed on a machine whose neighbours steal CPU time (seen here:
epochs of exactly twice their usual length, as if one of the 2 vCPUs were taken away). Writes the JSON
to --output and prints it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import platform
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bgsplit_tf import config as config_lib
from bgsplit_tf.speed import photo_pipeline
from bgsplit_tf.models import bgsplit_model, network as network_lib, trunk_split
from bgsplit_tf.training import build, precision, prepare
from bgsplit_tf.training import run_inputs
from bgsplit_tf.training import targets_memo

NUM_RARE = 5
CASE_LETTERS = "abcdegh"
AUX_WEIGHT = 0.1


class TeacherInStepModel(bgsplit_model.BackgroundSplittingModel):
    """Case e's peer: no cached targets; every step runs the frozen teacher on the batch first."""

    def __init__(self, network: keras.Model, teacher: keras.Model, **kwargs):
        super().__init__(network, **kwargs)
        self.teacher = teacher

    def train_step(self, data):
        """Runs the frozen teacher on the batch for its targets, then our train step on them."""
        images, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        probs = tf.nn.softmax(self.teacher(images, training=False), axis=-1)
        targets = {**targets, "teacher_label": tf.argmax(probs, axis=-1, output_type=tf.int32),
                   "teacher_probs": probs}
        return super().train_step((images, targets))


def interleaved_rates(cases: dict, batch_size: int, steps: int, warmup: int, repeats: int) -> dict:
    """images/s of each case {name: (model, batches)}: `warmup` untimed epochs each (compilation,
    caches), then `repeats` rounds in which every case runs one timed epoch of `steps` steps in turn, so
    the slow drifts of a shared machine hit all cases alike. Median, min and max over the rounds."""
    for name, (model, batches) in cases.items():
        logging.info("Warming up %s ...", name)
        model.fit(batches, epochs=warmup, steps_per_epoch=steps, verbose=0)
    seconds = {name: [] for name in cases}
    for round_index in range(repeats):
        for name, (model, batches) in cases.items():
            started = time.perf_counter()
            model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)
            seconds[name].append(time.perf_counter() - started)
        logging.info("Round %d: %s", round_index + 1,
                     ", ".join(f"{name} {steps * batch_size / s[-1]:.0f}/s" for name, s in seconds.items()))
    results = {}
    for name, timed in seconds.items():
        rates = [steps * batch_size / s for s in timed]
        results[name] = {"images_per_second": statistics.median(rates), "min": min(rates), "max": max(rates),
                         "epoch_seconds": timed}
    return results


def in_memory_batches(input_shape: tuple[int, ...], batch_size: int, num_aux: int, seed: int = 0, maps: bool = False):
    """One fixed batch (inputs float32 [B, *input_shape], targets) repeated: no input cost at all. The
    inputs are pixels in [0, 255], or with `maps` non-negative activations like a frozen trunk's."""
    rng = np.random.default_rng(seed)
    shape = (batch_size, *input_shape)
    images = (np.abs(rng.normal(size=shape)) if maps else rng.integers(0, 256, shape)).astype(np.float32)
    probs = rng.dirichlet(np.ones(num_aux), batch_size).astype(np.float32)
    targets = {"label": rng.integers(0, NUM_RARE + 1, batch_size).astype(np.int32),
               "teacher_label": probs.argmax(1).astype(np.int32), "teacher_probs": probs}
    return images, targets, tf.data.Dataset.from_tensors((images, targets)).repeat()


def _sgd(learning_rate: float = 0.01) -> keras.optimizers.Optimizer:
    return keras.optimizers.SGD(learning_rate, momentum=0.9, weight_decay=1e-4)


def our_model(teacher: keras.Model, jit_compile: bool, trunk_dtype: str = "float32") -> keras.Model:
    """Case a/b's model: BackgroundSplittingModel on the teacher's trunk (computing in trunk_dtype, a
    Keras dtype policy: case h's mixed_bfloat16), compiled with SGD."""
    model = bgsplit_model.BackgroundSplittingModel(
        network_lib.network_from_teacher(teacher, NUM_RARE, trunk_dtype=trunk_dtype), aux_weight=AUX_WEIGHT)
    model.compile(optimizer=_sgd(), jit_compile=jit_compile)
    return model


def peer_model(teacher: keras.Model, jit_compile) -> keras.Model:
    """The same two-output network trained the plain Keras way: per-output losses and loss_weights."""
    network = network_lib.network_from_teacher(teacher, NUM_RARE)
    cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    network.compile(optimizer=_sgd(), loss={"main": cross_entropy, "aux": cross_entropy},
                    loss_weights={"main": 1.0, "aux": AUX_WEIGHT}, jit_compile=jit_compile)
    return network


def forward_flops(network: keras.Model, input_shape: tuple[int, ...]) -> int:
    """Floating-point operations of one input's forward pass (TF's profiler, multiply-add = 2);
    input_shape: (H, W, C) of one image or map."""
    from tensorflow.python.framework import convert_to_constants

    function = tf.function(lambda x: network(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, *input_shape], tf.float32))
    frozen = convert_to_constants.convert_variables_to_constants_v2(function)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=frozen.graph, options=options).total_float_ops)


def measured_peak_flops(size: int = 2048, repeats: int = 10, dtype: tf.DType = tf.float32) -> float:
    """FLOP/s of the best of `repeats` [size, size] matmuls in dtype: this CPU's practical peak for TF."""
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    tf.linalg.matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def nominal_peak_flops() -> dict:
    """cores x clock x float32 FLOPs per cycle, from /proc/cpuinfo (assumes 2 FMA pipes per core)."""
    info = pathlib.Path("/proc/cpuinfo").read_text() if pathlib.Path("/proc/cpuinfo").exists() else ""
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    flags_line = next((line for line in info.splitlines() if line.startswith("flags")), "")
    lanes = 16 if " avx512f" in flags_line else 8 if " avx2" in flags_line else 4
    per_cycle = 2 * lanes * 2  # 2 FMA pipes x lanes x (multiply + add)
    cores = os.cpu_count() or 1
    clock = (statistics.mean(mhz) if mhz else 0.0) * 1e6
    return {"flops": cores * clock * per_cycle, "cores": cores, "clock_hz": clock, "flops_per_cycle": per_cycle,
            "how": f"{cores} cores x {clock / 1e9:.2f} GHz x {per_cycle} float32 FLOPs/cycle (2 FMA pipes x "
                   f"{lanes} lanes x 2)"}


def write_jpeg_folder(root: pathlib.Path, image_size: int, num_images: int, seed: int = 0) -> None:
    """A generated image-folder dataset: train/validation/test, 10 categories + background, JPEG files
    about 1.5x the trunk's input (so decoding and resizing cost what they do on real data)."""
    rng = np.random.default_rng(seed)
    side = int(image_size * 1.5)
    photo_pipeline.write_image_folder(
        root, {"train": num_images, "validation": num_images // 4, "test": num_images // 4},
        lambda: rng.integers(0, 256, (side, side, 3), dtype=np.uint8), quality=85,
        categories=[*photo_pipeline.SPECIES, "background"])


def pipeline_batches(root: pathlib.Path, config: config_lib.TrainConfig, cache: str) -> prepare.PreparedRun:
    """The real training pipeline over the generated folder (decode, augment, resample, join)."""
    run_config = dataclasses.replace(config, dataset=f"folder:{root}", cache_decoded=cache, num_rare=NUM_RARE,
                                     positives_per_class=0, rare_batch_fraction=0.25, augment=True)
    return prepare.prepare_run(run_config, targets_memo.TargetsMemo())


def run_benchmark(config: config_lib.TrainConfig, steps: int, warmup: int, repeats: int, num_images: int,
                  letters: str = CASE_LETTERS) -> dict:
    """Cases a-h for one configuration (see the module docstring); letters picks which of a-e, g and h are timed
    (f, the FLOPs, always comes), and only the ratios whose cases ran are reported."""
    keras.utils.set_random_seed(0)
    teacher = run_inputs.teacher_of(config)
    image_size = tuple(teacher.input_shape[1:3])
    if config.frozen_through:  # the cases train the top stages, on maps of the frozen part's output shape
        pixel_cases = sorted(set(letters) & set("deg"))
        if pixel_cases:
            raise ValueError(f"cases {', '.join(pixel_cases)} need pixels; with --frozen_through pick from a, b, c and "
                             "h (--cases=a --cases=b ...)")
        _, teacher = trunk_split.split_teacher(teacher, config.frozen_through)
    input_shape = tuple(teacher.input_shape[1:])
    num_aux = int(teacher.output_shape[-1])
    batch = config.batch_size
    images, targets, memory = in_memory_batches(input_shape, batch, num_aux, maps=bool(config.frozen_through))
    timing = dict(batch_size=batch, steps=steps, warmup=warmup, repeats=repeats)
    peer_data = tf.data.Dataset.from_tensors(
        (images, {"main": targets["label"], "aux": targets["teacher_label"]})).repeat()
    xla = build.use_xla(config)
    reference = "a_custom_step_xla" if xla else "b_custom_step_no_xla"

    def teacher_in_step():
        online = TeacherInStepModel(network_lib.network_from_teacher(teacher, NUM_RARE), teacher,
                                    aux_weight=AUX_WEIGHT)
        online.compile(optimizer=_sgd(), jit_compile=xla)
        return online, memory

    builders = {
        "a_custom_step_xla": lambda: (our_model(teacher, True), memory),
        "b_custom_step_no_xla": lambda: (our_model(teacher, False), memory),
        "c_peer_compile_fit_xla": lambda: (peer_model(teacher, True), peer_data),
        "c_peer_compile_fit_default": lambda: (peer_model(teacher, "auto"), peer_data),
        "e_teacher_in_step": teacher_in_step,
        "h_custom_step_bfloat16": lambda: (our_model(teacher, xla, "mixed_bfloat16"), memory),
    }
    timed_cases = {name: build() for name, build in builders.items() if name[0] in letters}
    pipeline_alone = {}
    with tempfile.TemporaryDirectory() as folder:
        root = pathlib.Path(folder)
        for cache in ("yes", "no") if "d" in letters else ():
            if not any(root.iterdir()):
                write_jpeg_folder(root, image_size[0], num_images)
            batches = pipeline_batches(root, config, cache).train_batches.repeat()
            timed_cases[f"d_full_pipeline_cache_{cache}"] = (our_model(teacher, xla), batches)
            for _ in batches.take(steps):  # the first pass fills the caches
                pass
            started, seen = time.perf_counter(), 0
            for batch_images, _ in batches.take(steps):
                seen += int(batch_images.shape[0])
            pipeline_alone[f"d_pipeline_alone_cache_{cache}"] = {
                "images_per_second": seen / (time.perf_counter() - started)}
        cases = {**interleaved_rates(timed_cases, **timing), **pipeline_alone}
    if "g" in letters:
        with tempfile.TemporaryDirectory() as folder:
            photo_pipeline.write_photo_folder(pathlib.Path(folder), num_images)
            cases.update(photo_pipeline.photo_pipeline_rates(pathlib.Path(folder), batch, steps))

    median = {name: case["images_per_second"] for name, case in cases.items()}
    best = {name: case.get("max", case["images_per_second"]) for name, case in cases.items()}
    flops_forward = forward_flops(network_lib.network_from_teacher(teacher, NUM_RARE), input_shape)
    flops_train = 3 * flops_forward
    measured_peak = measured_peak_flops()
    nominal = nominal_peak_flops()
    achieved = flops_train * best[reference] if reference in best else None
    bfloat16 = "h_custom_step_bfloat16"
    peak_bfloat16 = measured_peak_flops(dtype=tf.bfloat16) if bfloat16 in best else None
    return {
        "machine": {"platform": platform.platform(), "processor": precision.cpu_model(), "cpu_count": os.cpu_count(),
                    "bfloat16_cpu_flags": sorted(precision.cpu_flags() & set(precision.BFLOAT16_CPU_FLAGS)),
                    "mixed_precision_auto": precision.resolve(precision.AUTO).reason,
                    "tensorflow": tf.__version__, "keras": keras.__version__,
                    "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (oneDNN on)")},
        "config": {"teacher": config.teacher or "embedded", "image_size": list(image_size),
                   "frozen_through": config.frozen_through, "input_shape": list(input_shape), "batch_size": batch,
                   "default_xla": xla,
                   "teacher_classes": num_aux, "num_rare": NUM_RARE, **timing, "jpeg_images": num_images},
        "cases": cases,
        "ratios": _ratios(median, reference),
        "ratios_fastest_epochs": _ratios(best, reference),
        "flops": {
            "forward_per_image": flops_forward,
            "train_per_image": flops_train,
            "train_how": "3 x forward (backward ~ 2 x forward)",
            "achieved_per_second": achieved,
            "achieved_by": f"{reference}, fastest epoch",
            "measured_peak_per_second": measured_peak,
            "measured_peak_how": "best of 10 float32 2048x2048 tf.linalg.matmul",
            "fraction_of_measured_peak": achieved and achieved / measured_peak,
            "nominal_peak_per_second": nominal["flops"],
            "nominal_peak_how": nominal["how"],
            "fraction_of_nominal_peak": achieved and nominal["flops"] and achieved / nominal["flops"],
            "bfloat16_achieved_per_second": peak_bfloat16 and flops_train * best[bfloat16],
            "bfloat16_measured_peak_per_second": peak_bfloat16,
            "bfloat16_fraction_of_measured_peak": peak_bfloat16 and flops_train * best[bfloat16] / peak_bfloat16,
        },
    }


def _ratios(rate: dict, reference: str) -> dict:
    """The issue's ratios from images/s per case (those whose cases ran); reference: our step at the
    default XLA setting."""
    ratios = {
        "a_over_c_custom_vs_peer_xla": ("a_custom_step_xla", "c_peer_compile_fit_xla", lambda x, y: x / y),
        "default_custom_over_default_peer": (reference, "c_peer_compile_fit_default", lambda x, y: x / y),
        "a_over_b_xla_speedup": ("a_custom_step_xla", "b_custom_step_no_xla", lambda x, y: x / y),
        "d_input_bound_fraction_cache_yes": ("d_full_pipeline_cache_yes", reference, lambda x, y: max(0.0, 1 - x / y)),
        "d_input_bound_fraction_cache_no": ("d_full_pipeline_cache_no", reference, lambda x, y: max(0.0, 1 - x / y)),
        "e_cached_over_teacher_in_step": (reference, "e_teacher_in_step", lambda x, y: x / y),
        "h_bfloat16_over_float32": ("h_custom_step_bfloat16", reference, lambda x, y: x / y),
    }
    return {name: ratio(rate[x], rate[y]) for name, (x, y, ratio) in ratios.items() if x in rate and y in rate}
