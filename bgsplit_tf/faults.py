"""Faults: what stops a command with a message instead of a stack trace.

A Fault says what went wrong, where, and what to do; every command prints it on one line and exits
with status FAULT_EXIT_CODE (cli.program). Any floor of the library may raise one: this module imports
nothing of it.
"""

from __future__ import annotations

import re

FAULT_EXIT_CODE = 3


class Fault(RuntimeError):
    """A command cannot go on; the message names the cause and the fix."""


class TrainingFault(Fault):
    """Training cannot go on (a diverging loss, a finished run, bad data, a refused resume...)."""


def error_summary(error) -> str:
    """A TensorFlow error's message (tf.errors.OpError) on one line, without its function-node prefix and
    op suffix, and image_files.decode_bytes's pixel-limit check reduced to the declared count."""
    message = re.sub(r"\{\{[^}]*\}\}", "", error.message)
    message = re.sub(r"Condition x <= y did not hold\.\s*First 1 elements of x:\s*\[(\d+)\].*", r"(\1 declared)",
                     message, flags=re.S)
    message = re.sub(r"\s*\[Op:[^\]]*\].*$", "", message, flags=re.S)
    return " ".join(message.split()) or type(error).__name__
