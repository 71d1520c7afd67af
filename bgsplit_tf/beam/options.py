"""Which Beam runner a command uses (--runner, --pipeline_options), and Beam's import checked with a
message saying how to install it.

Without --runner a command runs in this process (the default, and all the quick start needs). With
--runner=DirectRunner the job runs on this machine in one worker process per core (unless
--pipeline_options sets --direct_num_workers or --direct_running_mode); with a distributed runner
(Dataflow, Flink, Spark) the workers need bgsplit_tf installed, and the data, the teacher or export,
and the output folder on a filesystem they and this process share (BUILD.md shows the command lines). This module imports neither Beam nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
import os
import shlex

from absl import flags

from bgsplit_tf import config as config_lib, faults

RUNNERS = ("DirectRunner", "PrismRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PortableRunner")
INSTALL_HINT = "pip install 'bgsplit_tf[beam]'"


@dataclasses.dataclass(frozen=True)
class RunnerChoice:
    """runner: "" (this process) or one of RUNNERS; pipeline_options: the extra Beam options, as
    command-line words (e.g. ("--project=p", "--region=europe-west4"))."""

    runner: str = ""
    pipeline_options: tuple[str, ...] = ()

    @property
    def on_beam(self) -> bool:
        return bool(self.runner)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """--runner and --pipeline_options (defined when a command runs, and listed in its --help)."""
    flags.DEFINE_enum("runner", "", ["", *RUNNERS],
                      "Run the job as an Apache Beam pipeline on this runner (needs the beam extra: "
                      f"{INSTALL_HINT}); empty runs it in this process. DirectRunner uses every core of this "
                      "machine, one worker process each.", flag_values=flag_values)
    flags.DEFINE_string("pipeline_options", "",
                        "Further Beam pipeline options, as on a command line (quoted as one value), e.g. "
                        "\"--project=my-project --region=europe-west4 --temp_location=gs://bucket/tmp\".",
                        flag_values=flag_values)
    config_lib.show_in_help(__name__, flag_values=flag_values)


def choice_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> RunnerChoice:
    """The RunnerChoice the parsed flags give; --pipeline_options without --runner is refused."""
    words = tuple(shlex.split(flag_values.pipeline_options))
    if words and not flag_values.runner:
        raise faults.Fault("--pipeline_options acts only on a Beam pipeline; set --runner as well "
                           f"(one of {', '.join(RUNNERS)})")
    return RunnerChoice(flag_values.runner, words)


def require_beam():
    """The apache_beam module; a Fault saying how to install it when it is missing."""
    try:
        import apache_beam
    except ImportError:
        raise faults.Fault(f"--runner needs Apache Beam, which is not installed: {INSTALL_HINT}") from None
    return apache_beam


def pipeline_options(choice: RunnerChoice):
    """Beam's PipelineOptions for the choice: the DirectRunner in multi-process mode with one worker per
    core unless the options say otherwise."""
    require_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    words = [f"--runner={choice.runner}", *choice.pipeline_options]
    if choice.runner == "DirectRunner":
        given = " ".join(choice.pipeline_options)
        if "--direct_running_mode" not in given:
            words.append("--direct_running_mode=multi_processing")
        if "--direct_num_workers" not in given:
            words.append(f"--direct_num_workers={os.cpu_count() or 1}")
    return PipelineOptions(words)
