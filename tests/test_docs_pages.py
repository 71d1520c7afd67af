"""The results pages (docs/*.md and the README's figures) are what their committed results make them:
regenerating each one changes nothing, a changed result changes its page, and no figure outside a
marked span was copied by hand."""

import csv
import re
import shutil

import pytest

from bgsplit_tf.reports import markers, pages
from tests.conftest import REPO

# A measured figure as the pages print them (0.935, +0.035): outside a marked span it was typed by hand.
# (Settings such as "99.98% background" are the design's, not measurements.)
FIGURE = re.compile(r"(?<![\w.])[+-]?\d\.\d{3}\b")


@pytest.mark.parametrize("page", list(pages.PAGES))
def test_every_page_is_what_its_results_make_it(page):
    assert pages.rendered(REPO, page) == (REPO / page).read_text(), f"{page} is stale: run bgsplit-docs"


@pytest.mark.parametrize("page", list(pages.PAGES))
def test_no_figure_outside_a_marked_span(page):
    hand_written = markers.outside_spans((REPO / page).read_text())
    assert not FIGURE.findall(hand_written), f"{page} types figures by hand: {FIGURE.findall(hand_written)}"


def test_a_changed_result_changes_its_page(tmp_path):
    """The regime map's page follows its results.csv: a different central difference shows up in it."""
    for name in ("README.md", "docs", "benchmarks/results", "bgsplit_tf/models/assets"):
        source, target = REPO / name, tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, target)
    results = tmp_path / "benchmarks/results/regime_map_quick/results.csv"
    with results.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    rows[0]["diff_mean"] = "0.5"  # the central cell
    with results.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert set(pages.regenerate(tmp_path, write=True)) == {"README.md", "docs/regime_map.md"}
    assert "+0.500 (" in (tmp_path / "docs/regime_map.md").read_text()
    assert pages.regenerate(tmp_path, write=False) == []


def test_fill_replaces_only_the_spans_and_refuses_unknown_names():
    page = "Prose 1.\n<!-- gen:a -->old<!-- /gen --> and <!-- gen:b -->\n<!-- /gen -->\n"
    assert markers.fill(page, {"a": "+0.1", "b": "\n| t |\n"}, "p.md") == (
        "Prose 1.\n<!-- gen:a -->+0.1<!-- /gen --> and <!-- gen:b -->\n| t |\n<!-- /gen -->\n")
    with pytest.raises(markers.PageFault, match="p.md: marked spans with no value: b"):
        markers.fill(page, {"a": "x"}, "p.md")
    with pytest.raises(markers.PageFault, match="1 spans opened and 0 closed"):
        markers.fill("<!-- gen:a -->x", {"a": "y"}, "p.md")


def test_a_missing_results_file_names_itself(tmp_path):
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs/speed.md", tmp_path / "docs/speed.md")
    with pytest.raises(Exception, match="bench/efficientnet_lite0_128_whole.json is missing"):
        pages.rendered(tmp_path, "docs/speed.md")
