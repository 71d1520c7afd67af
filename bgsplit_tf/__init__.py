"""bgsplit_tf: Background Splitting for rare-category image classification (TensorFlow / Keras 3).

Data flow: source -> rare task -> teacher targets -> tf.data pipeline -> two-output model
(main: K+1 logits, aux: M logits mimicking the teacher) -> per-class AP / mAP -> model.keras.
"""

try:
    import tensorflow as _tf  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "bgsplit_tf needs TensorFlow, which its base install does not force on you. Install it with an "
        "extra: pip install 'bgsplit_tf[cpu]' (CPU) or pip install 'bgsplit_tf[gpu]' (NVIDIA GPU)."
    ) from error

from bgsplit_tf.config import TrainConfig
from bgsplit_tf.data.bad_images import find_bad_images
from bgsplit_tf.data.image_files import decode_bytes
from bgsplit_tf.data.pipeline import training_epochs
from bgsplit_tf.data.rare_task import RareTask, choose_rare_task
from bgsplit_tf.data.sources import Source, open_source
from bgsplit_tf.data.sources.folders import FolderSource
from bgsplit_tf.data.sources.manifests import ManifestSource
from bgsplit_tf.data.sources.tfds_source import TfdsSource
from bgsplit_tf.data.teacher_targets import TeacherTargets, compute_teacher_targets
from bgsplit_tf.evaluation.mechanism import MechanismProbe, effective_rank, linear_cka
from bgsplit_tf.evaluation.metrics import average_precision, mean_average_precision
from bgsplit_tf.evaluation.run_results import RunResults
from bgsplit_tf.evaluation.validation import map_summary, predict_main
from bgsplit_tf.experiments.comparison import METHODS, Grid, run_experiment
from bgsplit_tf.experiments.regime_map import TIERS, run_map
from bgsplit_tf.models.bgsplit_model import BackgroundSplittingModel
from bgsplit_tf.models.network import CosineDense, FixedBackgroundLogit, build_network, network_from_teacher
from bgsplit_tf.models.pretrained import load as load_pretrained
from bgsplit_tf.models.teacher import build_teacher
from bgsplit_tf.serving.export import export_saved_model
from bgsplit_tf.serving.mining import mine
from bgsplit_tf.serving.model_card import model_card
from bgsplit_tf.serving.warmup import write_warmup_requests
from bgsplit_tf.training.checkpoints import RunCheckpoints
from bgsplit_tf.models.losses import (
    MainHeadLoss,
    auxiliary_loss,
    class_balanced_weights,
    ldam_margins,
    log_prior,
    soft_distillation,
    softmax_cross_entropy,
)
from bgsplit_tf.training.run import run_training

__version__ = "0.1.0"
__all__ = [
    "BackgroundSplittingModel",
    "CosineDense",
    "FixedBackgroundLogit",
    "FolderSource",
    "Grid",
    "METHODS",
    "MainHeadLoss",
    "ManifestSource",
    "MechanismProbe",
    "RareTask",
    "RunCheckpoints",
    "RunResults",
    "Source",
    "TIERS",
    "TeacherTargets",
    "TfdsSource",
    "TrainConfig",
    "auxiliary_loss",
    "average_precision",
    "build_network",
    "build_teacher",
    "choose_rare_task",
    "class_balanced_weights",
    "compute_teacher_targets",
    "decode_bytes",
    "effective_rank",
    "export_saved_model",
    "find_bad_images",
    "ldam_margins",
    "linear_cka",
    "load_pretrained",
    "log_prior",
    "map_summary",
    "mean_average_precision",
    "mine",
    "model_card",
    "network_from_teacher",
    "open_source",
    "predict_main",
    "run_experiment",
    "run_map",
    "run_training",
    "soft_distillation",
    "softmax_cross_entropy",
    "training_epochs",
    "write_warmup_requests",
]
