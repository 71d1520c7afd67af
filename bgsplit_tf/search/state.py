"""A search's state folder: everything a labelling loop needs to survive a kill and resume, and to never
lose a label.

  <state>/settings.json     what the search is: the pool, the target categories, the teacher, the method
  <state>/labels.jsonl      every label ever given, append-only, one JSON object per line:
                            {"item", "category", "label": yes|no|skip, "who", "when", "round"}, and
                            {"undo": true, "item", "category", "who", "when"} when one is taken back
  <state>/rounds/<r>/       each round's model weights, pool scores and the images it chose to show
  <state>/lock              held by the one process that writes the folder (lock_state), naming its pid

A line is written and flushed to disk before add() returns, so a kill loses at most the label being
typed. Two different labels for one (item, category) are a conflict: the second is refused, naming the
first, unless it is a relabel (the page's undo, then a new label).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pathlib
import time

from bgsplit_tf import faults
from bgsplit_tf.data import fingerprints

LABELS = ("yes", "no", "skip")
EXAMPLE_LABELLER = "example"  # the `who` of the example images a search starts from (labelled yes, never shown)
SETTINGS_FILE, LABELS_FILE, ROUNDS_DIR, LOCK_FILE = "settings.json", "labels.jsonl", "rounds", "lock"


class LabelConflict(ValueError):
    """A second, different label for an image and category that already has one."""


@dataclasses.dataclass(frozen=True)
class Label:
    """One label: `item` (an image's path or id) is `label` (yes, no or skip) for `category`."""

    item: str
    category: str
    label: str
    who: str
    when: float
    round: int


class SearchState:
    """The state folder of one search (module docstring). Open it with open_state."""

    def __init__(self, root: pathlib.Path, settings: dict):
        self.root = root
        self.settings = settings
        self._current: dict[tuple[str, str], Label] = {}  # labels() as of the first _read_up_to bytes
        self._read_up_to = 0  # bytes of labels.jsonl folded into _current: whole lines only
        self._lines_read = 0

    @property
    def labels_path(self) -> pathlib.Path:
        return self.root / LABELS_FILE

    def _fold_new_lines(self) -> None:
        """Folds the lines appended since the last call into _current (reading only those), so a label's
        round trip does not grow with the history. A last line without its newline is a label cut short
        by a kill: it is left unread."""
        if not self.labels_path.exists():
            return
        with open(self.labels_path, "rb") as f:
            f.seek(self._read_up_to)
            new = f.read()
        whole = new[:new.rfind(b"\n") + 1]
        for line in whole.decode().splitlines():
            self._lines_read += 1
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                raise ValueError(f"{self.labels_path} line {self._lines_read} is not JSON: {line[:80]!r}; it holds "
                                 "labels, so it is never rewritten: repair that line by hand") from None
            key = (event["item"], event["category"])
            if event.get("undo"):
                self._current.pop(key, None)
            else:
                self._current[key] = Label(**{field.name: event[field.name] for field in dataclasses.fields(Label)})
        self._read_up_to += len(whole)

    def labels(self) -> dict[tuple[str, str], Label]:
        """The current label of each (item, category): the last given and not taken back."""
        self._fold_new_lines()
        return dict(self._current)

    def add(self, item: str, category: str, label: str, who: str, round_index: int, relabel: bool = False) -> Label:
        """Records a label (durably, before returning). The same label again is a no-op; a different one is
        a LabelConflict unless relabel (an undo is written first, so the history keeps both)."""
        if label not in LABELS:
            raise ValueError(f"label {label!r} is not one of {LABELS}")
        if category not in self.settings["categories"]:
            raise ValueError(f"category {category!r} is not searched for here; this search looks for "
                             f"{', '.join(self.settings['categories'])}")
        self._fold_new_lines()
        existing = self._current.get((item, category))
        if existing is not None and existing.label == label:
            return existing
        if existing is not None and not relabel:
            raise LabelConflict(
                f"{item} is already labelled {existing.label!r} for {category} (by {existing.who}, round "
                f"{existing.round}); undo that label first to change it")
        if existing is not None:
            self.undo(item, category, who)
        new = Label(item, category, label, who, time.time(), round_index)
        self._append(dataclasses.asdict(new))
        return new

    def undo(self, item: str, category: str, who: str) -> None:
        """Takes back the current label of (item, category); the history keeps it."""
        self._fold_new_lines()
        if (item, category) not in self._current:
            raise ValueError(f"{item} has no label for {category} to undo")
        self._append({"undo": True, "item": item, "category": category, "who": who, "when": time.time()})

    def _append(self, event: dict) -> None:
        """Writes one event durably. A cut-short last line (never acknowledged to anyone) is dropped first,
        so the new line starts on a line of its own."""
        self._fold_new_lines()
        with open(self.labels_path, "ab") as f:
            if f.tell() > self._read_up_to:
                f.truncate(self._read_up_to)
            f.write((json.dumps(event) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())

    def round_dir(self, round_index: int) -> pathlib.Path:
        """rounds/<r>/, created."""
        path = self.root / ROUNDS_DIR / str(round_index)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def finished_rounds(self) -> int:
        """How many rounds finished (a round's folder counts once its shown.json is written)."""
        rounds = self.root / ROUNDS_DIR
        done = [int(p.name) for p in rounds.iterdir() if p.name.isdigit() and (p / "shown.json").exists()] \
            if rounds.exists() else []
        return max(done, default=-1) + 1


def open_state(root: str | pathlib.Path, settings: dict) -> SearchState:
    """Opens (or creates) the state folder of a search with these settings; a folder holding another
    search (other pool, categories, teacher or method) is refused, naming what differs
    (fingerprints.FingerprintMismatch: the settings are the folder's fingerprint)."""
    root = pathlib.Path(root)
    fingerprints.check_or_write(root / SETTINGS_FILE, settings, f"the state folder {root}",
                                "It holds another search, whose labels stay there: give this one another state folder.")
    return SearchState(root, settings)


class StateInUse(faults.Fault):
    """Another running process holds the state folder's lock."""


class StateLock:
    """The one-writer lock of a state folder: an exclusive flock on <state>/lock, which holds the holder's
    pid. The operating system drops it when its process ends however it ends, so the lock of a dead
    process is simply taken over."""

    def __init__(self, root: str | pathlib.Path):
        root = pathlib.Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / LOCK_FILE
        self._file = open(self.path, "a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "unknown"
            self._file.close()
            raise StateInUse(f"{root} is in use by another search (process {holder}); stop it, or give this one "
                             "another state folder") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"{os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        """Gives the folder up (also done by the end of the process)."""
        if not self._file.closed:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
