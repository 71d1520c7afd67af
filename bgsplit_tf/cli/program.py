"""What every command shares: its flags defined when it runs (never at import) and listed in --help, and
its faults mapped to an exit status.

Exit status: 0 done; 1 a command line absl cannot parse (an unknown flag, a value out of its range: absl's
usage message); FAULT_EXIT_CODE (3) anything the command refuses, printed on one line without a stack trace
(a Fault such as a diverging loss or a refused resume, flags that contradict each other, a missing or
unreadable file, a state folder in use). Any other exception is a bug and keeps its stack trace; so does a
refusal when the environment sets BGSPLIT_TRACEBACK=1.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any, Callable

from absl import app

from bgsplit_tf import config as config_lib, faults

REFUSALS = (faults.Fault, ValueError, OSError)


def _refusal_message(error: BaseException) -> str | None:
    """The one-line message of an error the command refuses with, None for any other (a bug)."""
    if isinstance(error, REFUSALS):
        return " ".join(str(error).split()) or type(error).__name__
    tf = sys.modules.get("tensorflow")  # a TensorFlow error (a file it cannot read) where TensorFlow is loaded
    if tf is not None and isinstance(error, tf.errors.OpError):
        return faults.error_summary(error)
    return None


def output_file(path: str, flag: str = "--output", suffix: str | None = None) -> pathlib.Path:
    """The file a command writes when it ends, checked before its long work starts: its folder is made
    and must be writable, and its name must end in `suffix` if given (a Fault says which flag is wrong)."""
    output = pathlib.Path(path)
    if suffix is not None and output.suffix != suffix:
        raise faults.Fault(f"{flag}={path} must name a {suffix} file")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise faults.Fault(f"{flag}={path}: its folder cannot be made ({error.strerror})") from None
    if not os.access(output.parent, os.W_OK):
        raise faults.Fault(f"{flag}={path}: its folder {output.parent} is not writable")
    return output


def mapping_faults(main: Callable[[list[str]], Any]) -> Callable[[list[str]], Any]:
    """main, with the refusals it raises ending the program with FAULT_EXIT_CODE and a one-line message."""
    def guarded(argv):
        try:
            return main(argv)
        except Exception as error:
            message = _refusal_message(error)
            if message is None or os.environ.get("BGSPLIT_TRACEBACK") == "1":
                raise
            print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr)
            sys.exit(faults.FAULT_EXIT_CODE)
    return guarded


def run_program(main: Callable[[list[str]], Any], define_program_flags: Callable[[], None],
                *flag_modules: str) -> None:
    """Runs an absl program without TrainConfig's flags: defines its flags, lists in --help those that
    flag_modules define (the program's own module, and any cli module of flags shared with another
    program that it defines from), then runs main(argv) with its faults mapped (module docstring)."""
    define_program_flags()
    config_lib.show_in_help(*flag_modules)
    app.run(mapping_faults(main))


def run_app(action: Callable[[config_lib.TrainConfig], Any], program_module: str | None = None,
            define_program_flags: Callable[[], None] | None = None) -> None:
    """Runs an absl app whose flags are TrainConfig's (listed by --help) plus, if given, the program's own
    (define_program_flags, listed under program_module): action(config) once parsed, faults mapped."""
    config_lib.define_flags()
    if define_program_flags is not None:
        define_program_flags()
    config_lib.show_in_help(config_lib.__name__, *([program_module] if program_module else []))

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        action(config_lib.config_from_flags())

    app.run(mapping_faults(main))
