"""AP equals sklearn's average_precision_score (ties included); mAP excludes background."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from bgsplit_tf.evaluation import metrics, run_results


def test_hand_computed_example():
    # Ranking: pos, neg, pos -> precision at the two recall steps 1/1 and 2/3.
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


@pytest.mark.parametrize("seed", range(30))
def test_matches_sklearn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = rng.random(n) < rng.uniform(0.01, 0.5)
    labels[rng.integers(n)] = True
    scores = rng.integers(0, 6, n) / 5.0 if seed % 2 else rng.random(n)
    assert metrics.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-6)


def test_all_tied_scores_give_the_positive_rate():
    labels = np.array([1, 0, 0, 1, 0])
    assert metrics.average_precision(labels, np.zeros(5)) == pytest.approx(0.4)


def test_no_positives_is_an_error():
    with pytest.raises(ValueError, match="no positive"):
        metrics.average_precision([0, 0], [0.1, 0.2])


def test_map_is_over_rare_classes_only():
    labels = np.array([0, 0, 1, 2, 0, 1])
    probs = np.array(
        [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.3, 0.1, 0.6], [0.8, 0.1, 0.1], [0.5, 0.4, 0.1]]
    )
    aps = metrics.rare_class_average_precisions(labels, probs)
    assert aps == pytest.approx([average_precision_score(labels == 1, probs[:, 1]),
                                 average_precision_score(labels == 2, probs[:, 2])])
    assert metrics.mean_average_precision(labels, probs) == pytest.approx(aps.mean())


def test_precision_recall_curve_groups_ties_into_one_threshold():
    precision, recall, thresholds = metrics.precision_recall_curve([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1])
    np.testing.assert_allclose(thresholds, [0.9, 0.5, 0.1])
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])


def test_operating_points_against_a_hand_checked_pr_curve():
    # Ranked by score: + + - + - - + -   (4 positives)
    # threshold: 0.9  0.8  0.7  0.6  0.5  0.4  0.3  0.2
    # precision: 1    1    2/3  3/4  3/5  1/2  4/7  1/2
    # recall:    .25  .5   .5   .75  .75  .75  1    1
    is_positive = np.array([1, 1, 0, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    at_90 = metrics.operating_point(is_positive, scores, 0.9)
    assert at_90 == run_results.OperatingPoint(target_precision=0.9, threshold=0.8, precision=1.0, recall=0.5)
    at_70 = metrics.operating_point(is_positive, scores, 0.7)
    assert at_70 == run_results.OperatingPoint(target_precision=0.7, threshold=0.6, precision=0.75, recall=0.75)
    at_50 = metrics.operating_point(is_positive, scores, 0.5)
    assert at_50.threshold == 0.3 and at_50.recall == 1.0 and at_50.precision == pytest.approx(4 / 7)
    never = metrics.operating_point(np.array([0, 1]), np.array([0.9, 0.1]), 0.9)
    assert never.threshold is None and never.recall == 0.0
