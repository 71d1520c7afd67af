"""JSON files written whole: to a temporary name beside the target, then renamed over it, so a reader (or
a run resumed after a crash) finds the old file or the new one, never a part. Any floor may use it:
metrics.json, caches' fingerprints and scans, the precision timings."""

from __future__ import annotations

import json
import os
import pathlib


def write_whole(path: str | pathlib.Path, record: dict, sort_keys: bool = False) -> None:
    """`record` as indented JSON at `path` (its folder made), written to a temporary file and renamed."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(record, indent=2, sort_keys=sort_keys) + "\n")
    partial.replace(path)
