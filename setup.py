"""bgsplit_tf: Background Splitting (Mullapudi et al., CVPR 2021) in TensorFlow / Keras 3."""

from setuptools import find_packages, setup

setup(
    name="bgsplit_tf",
    version="0.1.0",
    description="Train rare-category image classifiers in a sea of background (Background Splitting).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["bgsplit_tf", "bgsplit_tf.*"]),
    package_data={
        "bgsplit_tf.models": ["assets/*.keras", "assets/*.md", "assets/*.json"],
        "bgsplit_tf.data": ["splits/inaturalist2017/*"],
    },
    # TensorFlow itself comes from an extra, so the base install does not force one build.
    install_requires=[
        "keras>=3.6",
        "tensorflow-datasets>=4.9",
        "importlib_resources",  # needed by tensorflow-datasets but not declared by it
        "absl-py>=2.0",
        "tensorboard>=2.16",
        "numpy>=1.26",
        "matplotlib>=3.7",
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16"],
        "test": ["pytest>=8", "scikit-learn>=1.3", "hypothesis>=6.100", "nbclient>=0.10", "nbformat>=5.10",
                 "ipykernel>=6.29"],
    },
    entry_points={
        "console_scripts": [
            "bgsplit-train=bgsplit_tf.train:run",
            "bgsplit-pretrain=bgsplit_tf.pretrain:run",
            "bgsplit-experiment=bgsplit_tf.experiment:run",
            "bgsplit-export=bgsplit_tf.export:run",
            "bgsplit-predict=bgsplit_tf.predict:run",
            "bgsplit-precompute=bgsplit_tf.precompute:run",
            "bgsplit-bench=bgsplit_tf.bench:run",
            "bgsplit-bench-decode=bgsplit_tf.bench_decode:run",
            "bgsplit-regime-map=bgsplit_tf.cli.regime_map:run",
        ]
    },
)
