"""--runner and --pipeline_options: what Beam is given, and a contradiction refused."""

import os

import pytest
from absl import flags

from bgsplit_tf import faults
from bgsplit_tf.beam import options


def _parsed(*argv):
    values = flags.FlagValues()
    options.define_flags(values)
    values(["prog", *argv])
    return values


def test_the_direct_runner_uses_every_core_in_worker_processes_unless_told_otherwise():
    choice = options.choice_from_flags(_parsed("--runner=DirectRunner"))
    assert choice.on_beam and choice.pipeline_options == ()
    given = options.pipeline_options(choice).get_all_options()
    assert (given["runner"], given["direct_running_mode"], given["direct_num_workers"]) == (
        "DirectRunner", "multi_processing", os.cpu_count())
    pinned = options.pipeline_options(options.choice_from_flags(_parsed(
        "--runner=DirectRunner", "--pipeline_options=--direct_num_workers=1 --direct_running_mode=in_memory")))
    assert (pinned.get_all_options()["direct_num_workers"], pinned.get_all_options()["direct_running_mode"]) == (
        1, "in_memory")


def test_cluster_options_pass_through_as_words():
    choice = options.choice_from_flags(_parsed(
        "--runner=DataflowRunner", '--pipeline_options=--project=p --region=europe-west4 --labels="a=b c"'))
    assert choice.pipeline_options == ("--project=p", "--region=europe-west4", "--labels=a=b c")
    given = options.pipeline_options(choice).get_all_options()
    assert (given["runner"], given["project"], given["region"]) == ("DataflowRunner", "p", "europe-west4")


def test_pipeline_options_without_a_runner_are_refused_naming_the_flag():
    assert not options.choice_from_flags(_parsed()).on_beam
    with pytest.raises(faults.Fault, match="set --runner as well"):
        options.choice_from_flags(_parsed("--pipeline_options=--project=p"))
    with pytest.raises(flags.IllegalFlagValueError):
        _parsed("--runner=LocalRunner")
