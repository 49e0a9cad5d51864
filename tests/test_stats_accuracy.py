"""Statistics from raw samples and accuracy / fidelity from outputs."""

from __future__ import annotations

import numpy as np
import pytest

from benchlab.accuracy import fidelity, top_k_accuracy
from benchlab.stats import median_ci_ranks, summarize


def test_median_ci_ranks_match_binomial_tables() -> None:
    # Published order-statistic intervals for the median at 95%: n=10 -> x(2)..x(9),
    # n=50 -> x(18)..x(33) (1-based), i.e. 0-based ranks (1, 8) and (17, 32).
    assert median_ci_ranks(10) == (1, 8)
    assert median_ci_ranks(50) == (17, 32)


def test_too_few_samples_give_no_interval() -> None:
    assert median_ci_ranks(5) is None
    summary = summarize([1000.0, 1100.0, 1200.0])
    assert summary is not None and summary.ci_low_ms is None and summary.median_ms == pytest.approx(1.1)


def test_median_interval_covers_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    true_median = np.log(2.0) * 1000.0  # exponential(scale 1000 us): skewed like real latencies
    covered = 0
    for _ in range(400):
        summary = summarize(rng.exponential(1000.0, size=40))
        assert summary is not None
        covered += summary.ci_low_ms * 1000 <= true_median <= summary.ci_high_ms * 1000
    assert 0.92 <= covered / 400 <= 0.995


def test_summary_is_computed_in_milliseconds_from_microseconds() -> None:
    summary = summarize([2000.0, 1000.0, 3000.0, 4000.0])
    assert summary is not None
    assert (summary.count, summary.min_ms, summary.max_ms, summary.median_ms) == (4, 1.0, 4.0, 2.5)
    assert summary.cv == pytest.approx(summary.std_ms / summary.mean_ms)
    assert summarize([]) is None


def test_top_k_accuracy() -> None:
    outputs = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert top_k_accuracy(outputs, labels, 1) == pytest.approx(1 / 3)
    assert top_k_accuracy(outputs, labels, 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="3 outputs but 2 labels"):
        top_k_accuracy(outputs, labels[:2])


def test_fidelity_against_reference() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    outputs = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    result = fidelity(outputs, reference, "fp32")
    assert result.reference_variant == "fp32"
    assert result.top1_agreement == pytest.approx(2 / 3)
    assert result.max_abs_error == pytest.approx(0.2)
    assert result.mean_abs_error == pytest.approx((0.1 * 4 + 0.2 * 2) / 6)
