"""Reading a harness's committed results (CSV tables with their numbers typed back, JSON reports), and
the interval format the pages share."""

from __future__ import annotations

import csv
import json
import pathlib

from bgsplit_tf import faults


def _typed(text: str):
    """A CSV cell as the harness wrote it: an int, a float, empty (None) or the text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_csv(path: pathlib.Path) -> list[dict]:
    """Rows of a results CSV, numbers typed back (harnesses write them with comparison.write_csv)."""
    _exists(path)
    with path.open(newline="") as stream:
        return [{key: _typed(value) for key, value in row.items()} for row in csv.DictReader(stream)]


def read_json(path: pathlib.Path):
    """A JSON report, or a Fault naming the missing file."""
    _exists(path)
    return json.loads(path.read_text())


def _exists(path: pathlib.Path) -> None:
    if not path.is_file():
        raise faults.Fault(f"{path} is missing: the page is generated from it (re-run its harness, or restore "
                           "it from git)")


def interval(mean: float, low: float, high: float) -> str:
    """'+0.035 (+0.003 to +0.083)': a mean difference and its 95% interval."""
    return f"{mean:+.3f} ({low:+.3f} to {high:+.3f})"
