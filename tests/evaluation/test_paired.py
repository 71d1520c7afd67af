"""Paired differences over seeds and their bootstrap interval."""

import numpy as np

from bgsplit_tf.evaluation import paired


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_seeds():
    rng = np.random.default_rng(1)
    few, many = rng.normal(0.1, 0.05, 5), rng.normal(0.1, 0.05, 50)
    low, high = paired.bootstrap_interval(few)
    assert low < few.mean() < high
    many_low, many_high = paired.bootstrap_interval(many)
    assert many_high - many_low < high - low
    assert paired.bootstrap_interval(few) == (low, high)  # seeded: reproducible


def test_paired_differences_use_common_seeds_in_order():
    d = paired.paired_differences({0: 0.5, 1: 0.7, 2: 0.9}, {1: 0.6, 0: 0.6, 3: 0.1})
    np.testing.assert_allclose(d, [-0.1, 0.1])


def test_a_comparison_counts_the_seeds_ahead_and_describes_itself():
    d = paired.Paired.of({0: 0.5, 1: 0.7, 2: 0.9}, {0: 0.6, 1: 0.6, 2: 0.6})
    np.testing.assert_allclose(d.differences, [-0.1, 0.1, 0.3])
    assert d.ahead == 2 and np.isclose(d.mean, 0.1) and d.low <= d.mean <= d.high
    assert d.describe().startswith("+0.100 (") and d.describe().endswith("), ahead 2/3")
    assert paired.Paired.of({0: 0.5}, {1: 0.5}) is None


def test_an_interval_gives_a_direction_only_with_enough_pairs():
    assert [paired.direction(low, high, 5) for low, high in [(0.01, 0.1), (-0.1, -0.01), (-0.1, 0.1)]] == [1, -1, 0]
    assert paired.direction(0.01, 0.1, paired.MIN_PAIRS - 1) is None
