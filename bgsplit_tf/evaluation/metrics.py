"""Average precision (AP) per rare class and their mean (mAP), the paper's metric.

`average_precision` equals sklearn.metrics.average_precision_score, ties included: scores that
tie form one threshold, and AP = sum_n (R_n - R_{n-1}) * P_n over the distinct thresholds.
"""

from __future__ import annotations

import numpy as np

from bgsplit_tf.evaluation import run_results


def precision_recall_curve(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at each distinct score threshold, highest threshold first.

    Args:
      is_positive: bool or {0,1} [N], whether each example belongs to the class.
      scores: float [N], higher = more likely positive.

    Returns:
      (precision float64 [T], recall float64 [T], thresholds float64 [T]): predicting positive for
      scores >= thresholds[t] gives precision[t] and recall[t]. Tied scores form one threshold.

    Raises:
      ValueError: no positives (recall is undefined) or mismatched shapes.
    """
    is_positive = np.asarray(is_positive).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if is_positive.shape != scores.shape:
        raise ValueError(f"labels {is_positive.shape} and scores {scores.shape} differ in shape")
    num_positive = int(is_positive.sum())
    if num_positive == 0:
        raise ValueError("precision/recall are undefined for a class with no positive examples")
    order = np.argsort(-scores, kind="stable")
    scores, is_positive = scores[order], is_positive[order]
    # The last index of each run of tied scores is where a threshold takes effect.
    threshold_ends = np.r_[np.flatnonzero(np.diff(scores)), scores.size - 1]
    true_positives = np.cumsum(is_positive)[threshold_ends]
    precision = true_positives / (threshold_ends + 1)
    recall = true_positives / num_positive
    return precision, recall, scores[threshold_ends]


def average_precision(is_positive: np.ndarray, scores: np.ndarray) -> float:
    """AP of one class: sum over thresholds of (R_n - R_{n-1}) * P_n (sklearn's definition).

    Args and errors as precision_recall_curve.
    """
    precision, recall, _ = precision_recall_curve(is_positive, scores)
    return area_under_curve(precision, recall)


def area_under_curve(precision: np.ndarray, recall: np.ndarray) -> float:
    """AP from a curve of precision_recall_curve: sum of (R_n - R_{n-1}) * P_n."""
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def rare_class_average_precisions(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """AP of each rare class 1..K of the main head.

    Args:
      labels: int [N], main-task labels (0 = background, 1..K rare).
      probabilities: float [N, K + 1], the main head's softmax.

    Returns:
      float64 [K]: AP of class k at index k - 1.
    """
    labels = np.asarray(labels)
    return np.array(
        [average_precision(labels == k, probabilities[:, k]) for k in range(1, probabilities.shape[1])]
    )


def mean_average_precision(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """mAP over the K rare classes (background excluded), as the paper reports."""
    return float(np.mean(rare_class_average_precisions(labels, probabilities)))


def operating_point(is_positive: np.ndarray, scores: np.ndarray,
                    target_precision: float) -> run_results.OperatingPoint:
    """The lowest score threshold whose precision reaches `target_precision`: the most recall a
    reviewer gets while at least that fraction of what they review is positive.

    Args as precision_recall_curve; target_precision in (0, 1].

    Returns:
      run_results.OperatingPoint: predict positive when score >= threshold. When no threshold
      reaches the target, threshold is None (never predict positive) and precision and recall are 0.
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target precision {target_precision} must be in (0, 1]")
    precision, recall, thresholds = precision_recall_curve(is_positive, scores)
    reaching = np.flatnonzero(precision >= target_precision)
    if reaching.size == 0:
        return run_results.OperatingPoint(target_precision, None, 0.0, 0.0)
    best = reaching[np.argmax(recall[reaching])]  # recall grows as the threshold falls: the last one
    return run_results.OperatingPoint(target_precision, float(thresholds[best]), float(precision[best]),
                                      float(recall[best]))
