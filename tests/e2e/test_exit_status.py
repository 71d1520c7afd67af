"""Every console script ends a fault with the documented exit status and one line saying what is wrong:
3 for what the command refuses (contradictory flags, a missing file, an unwritable output), 1 for a
command line absl cannot parse; never a stack trace."""

import concurrent.futures
import shutil
import subprocess

import pytest

from bgsplit_tf import faults

pytestmark = pytest.mark.e2e

MISSING = "/nonexistent-bgsplit/nothing"
# script -> (arguments that make it refuse; exit status; words its one-line message must contain).
FAULTS = {
    "bgsplit-train": (["--dataset=folder:" + MISSING, "--output_dir={tmp}/train"], 3, "no split folder 'train'"),
    "bgsplit-experiment": (["--dataset=folder:" + MISSING, "--output_dir={tmp}/experiment"], 3,
                           "no split folder 'train'"),
    "bgsplit-precompute": (["--dataset=folder:" + MISSING, "--teacher_cache_dir={tmp}/cache"], 3,
                           "no split folder 'train'"),
    "bgsplit-regime-map": (["--report_only", "--results_dir={tmp}/empty_map"], 3, "holds no finished runs"),
    "bgsplit-real-map": (["--report_only", "--results_dir={tmp}/empty_map"], 3, "holds no finished runs"),
    "bgsplit-export": (["--run_dir=" + MISSING], 3, "model.keras is missing"),
    "bgsplit-predict": (["--model=" + MISSING, "--images={tmp}"], 3, "holds no SavedModel"),
    "bgsplit-search": (["--pool={tmp}", "--state_dir={tmp}/state", "--examples=fox=" + MISSING], 3,
                       "holds no images"),
    "bgsplit-pretrain": (["--output={tmp}/teacher.h5"], 3, "must name a .keras file"),
    "bgsplit-bench": (["--output=/proc/bgsplit/bench.json"], 3, "its folder cannot be made"),
    "bgsplit-bench-search": (["--output=/proc/bgsplit/search.json"], 3, "its folder cannot be made"),
    "bgsplit-bench-decode": (["--images=0"], 1, "--images=0: 0 is not a positive integer"),
    "bgsplit-docs": (["--repo={tmp}", "--check"], 3, "--repo must be the repository's root"),
}


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """script -> its CompletedProcess, the scripts run two at a time (one per core)."""
    tmp = tmp_path_factory.mktemp("faults")

    def run(script):
        arguments = [a.replace("{tmp}", str(tmp)) for a in FAULTS[script][0]]
        return subprocess.run([shutil.which(script), *arguments], capture_output=True, text=True, timeout=300,
                              cwd=tmp)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(FAULTS, pool.map(run, FAULTS)))


def test_every_console_script_has_a_fault_case():
    from tests.e2e.test_package import SCRIPT_FLAGS

    assert sorted(FAULTS) == sorted(SCRIPT_FLAGS)


@pytest.mark.parametrize("script", sorted(FAULTS))
def test_a_fault_ends_with_its_exit_status_and_one_line(script, answers):
    _, status, words = FAULTS[script]
    answer = answers[script]
    assert answer.returncode == status, answer.stderr
    assert "Traceback" not in answer.stderr
    last = answer.stderr.strip().splitlines()[-1]
    if status == faults.FAULT_EXIT_CODE:
        assert last.startswith(f"{script}: ") and words in last, answer.stderr
        assert sum(words in line for line in answer.stderr.splitlines()) == 1  # said once, not logged twice
    else:
        assert any(words in line for line in answer.stderr.splitlines()), answer.stderr
