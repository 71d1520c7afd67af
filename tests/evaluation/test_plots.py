"""Pictures: each method's point sits at its own background fraction, whatever the number of fractions."""

import matplotlib.pyplot as plt
import numpy as np

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
