"""Which page is generated from which results, and regenerating or checking them all.

PAGES maps a page (a path in the repository) to the values functions whose names its marked spans use;
the README's few figures come from the same functions as the pages they summarise."""

from __future__ import annotations

import pathlib
from typing import Callable

from bgsplit_tf import faults
from bgsplit_tf.reports import demo, labelling_loop, maps, markers, paper_comparison, speed

Values = Callable[[pathlib.Path], dict[str, str]]

PAGES: dict[str, tuple[tuple[str, Values], ...]] = {
    "README.md": (("regime_map", maps.regime_map_values), ("real_map", maps.real_map_values),
                  ("paper_comparison", paper_comparison.paper_comparison_values), ("demo", demo.demo_values)),
    "docs/regime_map.md": (("", maps.regime_map_values),),
    "docs/real_map.md": (("", maps.real_map_values),),
    "docs/paper_comparison.md": (("", paper_comparison.paper_comparison_values),),
    "docs/labelling_loop.md": (("", labelling_loop.labelling_loop_values),),
    "docs/speed.md": (("", speed.speed_values),),
}


def page_values(repo: pathlib.Path, page: str) -> dict[str, str]:
    """Every value a page may use: each function's names, under its prefix where the page has several."""
    values = {}
    for prefix, function in PAGES[page]:
        values.update({f"{prefix}.{name}" if prefix else name: value for name, value in function(repo).items()})
    return values


def rendered(repo: pathlib.Path, page: str) -> str:
    """The page as its results make it: its text with every marked span refilled."""
    if not (repo / page).is_file():
        raise faults.Fault(f"{repo / page} is missing: --repo must be the repository's root (it holds README.md, "
                           "docs/ and benchmarks/results/)")
    return markers.fill((repo / page).read_text(), page_values(repo, page), page)


def regenerate(repo: pathlib.Path, write: bool) -> list[str]:
    """The pages whose marked spans differ from what their results give; rewritten when `write`."""
    stale = []
    for page in PAGES:
        text = rendered(repo, page)
        if text != (repo / page).read_text():
            stale.append(page)
            if write:
                (repo / page).write_text(text)
    return stale
