"""Pictures: each method's point sits at its own background fraction, whatever the number of fractions;
the forest plots of paired differences."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from bgsplit_tf.evaluation import plots


def _rows(fractions, methods):
    return [{"method": m, "background_fraction": f, "train_background_fraction": f or 0.9975, "test_mAP": 0.5}
            for f in fractions for m in methods]


def test_methods_are_drawn_at_their_fraction_even_with_a_single_fraction():
    methods = ["finetune", "bgsplit", "focal", "resample"]
    for fractions in ([None], [0.98, 0.995, 0.999]):
        figure = plots.fraction_comparison_figure(_rows(fractions, methods), "t")
        axes = figure.axes[0]
        assert axes.get_xlim() == (-0.5, len(fractions) - 0.5)
        for line in axes.lines:
            xs = np.asarray(line.get_xdata(), float)
            assert np.all(np.abs(xs - np.round(xs)) < 0.2), xs  # within a fifth of a tick of its fraction
        plt.close(figure)


def _height(png: bytes) -> int:
    return Image.open(io.BytesIO(png)).size[1]


def test_forest_plots_grow_a_row_per_difference_and_leave_out_cells_without_one():
    pair = {"pair": "bgsplit - finetune", "label": "98.00% background", "mean": 0.05, "low": -0.01, "high": 0.1,
            "ahead": 2, "pairs": 3, "differences": "+0.1000 -0.0100 +0.0600"}
    one, three = (plots.paired_differences_png([pair] * n, "t") for n in (1, 3))
    assert one.startswith(b"\x89PNG") and _height(three) > _height(one)
    cell = {"axis": "positives", "value": 2, "diff_mean": 0.03, "diff_low": 0.01, "diff_high": 0.08, "wins": 8,
            "pairs": 10}
    assert _height(plots.regime_map_png([cell, cell, {"axis": "probe"}], "t")) == _height(
        plots.regime_map_png([cell, cell], "t"))  # a cell without a comparison is left out


@pytest.mark.parametrize("low, high, pairs, colour", [
    (0.01, 0.1, 5, "C2"), (-0.1, -0.01, 10, "C3"), (-0.01, 0.1, 5, "0.4"), (0.01, 0.1, 3, "0.4"), (-0.1, -0.01, 4, "0.4")])
def test_a_difference_is_coloured_by_its_interval_only_with_enough_pairs(low, high, pairs, colour):
    assert plots.difference_colour(low, high, pairs) == colour


def test_the_comparison_zooms_in_only_when_every_method_scores_high():
    high = [{**row, "test_mAP": 0.9} for row in _rows([0.98, 0.999], ["finetune", "bgsplit"])]
    assert plots.fraction_comparison_figure(high, "t").axes[0].get_ylim()[0] == pytest.approx(0.8)
    assert plots.fraction_comparison_figure(_rows([0.98], ["finetune"]), "t").axes[0].get_ylim()[0] == 0.0
    plt.close("all")
