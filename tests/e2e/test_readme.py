"""The README's code blocks that are meant to run (marked `<!-- runs in tests/e2e/test_readme.py ... -->`) run,
in order, at a small setting: the same commands and flags, with flags appended (absl: the last value
wins) that point them at the tiny benchmark, one epoch and one seed."""

import re
import pytest
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

MARKER = "<!-- runs in tests/e2e/test_readme.py"
CONSOLE_SCRIPTS = {"bgsplit-experiment": "bgsplit_tf.cli.experiment", "bgsplit-train": "bgsplit_tf.cli.train",
                   "bgsplit-export": "bgsplit_tf.cli.export", "bgsplit-predict": "bgsplit_tf.cli.predict"}


def marked_commands(readme: str) -> list[str]:
    """The shell commands of the marked bash blocks, in order; continuation lines joined, and an
    install step before `&&` dropped (the test runs in the installed package)."""
    commands = []
    for block in re.findall(re.escape(MARKER) + r"[^\n]*\n```bash\n(.*?)```", readme, flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = command.split("#")[0].strip()
            if command:
                commands.append(command.split("&&")[-1].strip())
    return commands


def small_setting(tiny_data_dir: str, images: str) -> dict[str, list[str]]:
    tiny = ["--dataset=bgsplit_shapes/tiny", f"--data_dir={tiny_data_dir}", "--epochs=1", "--batch_size=32"]
    return {
        "bgsplit-experiment": [*tiny, "--seeds=0", "--num_rare=2", "--positives_per_class=2"],
        "bgsplit-train": [*tiny, "--positives_per_class=2"],  # tiny holds 2 training images of each
        "bgsplit-export": [],
        "bgsplit-predict": [f"--images={images}"],
    }


def test_the_readme_commands_run_at_a_small_setting(tiny_data_dir, tmp_path):
    commands = marked_commands((REPO / "README.md").read_text())
    assert [c.split()[0] for c in commands] == ["bgsplit-experiment", "bgsplit-train", "bgsplit-export",
                                                "bgsplit-predict"]
    images = tmp_path / "pool"
    images.mkdir()
    for i in range(6):
        pixels = np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{i}.png")
    extra = small_setting(tiny_data_dir, str(images))
    (tmp_path / "flags").symlink_to(REPO / "flags")  # the commands name flagfiles relative to the repository
    for command in commands:
        script, *arguments = command.split()
        result = subprocess.run([sys.executable, "-m", CONSOLE_SCRIPTS[script], *arguments, *extra[script]],
                                cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    assert (tmp_path / "runs/demo/results.md").exists()
    assert (tmp_path / "runs/mine/metrics.json").exists() and (tmp_path / "runs/mine/export/1/saved_model.pb").exists()
    assert (tmp_path / "runs/mined/ranked.csv").read_text().count("\n") == 1 + 6 * 2  # header + 6 images x 2 classes
