"""Statistics from raw samples (the repeat is the unit) and accuracy / fidelity from outputs."""

from __future__ import annotations

import numpy as np
import pytest

from benchlab.results.accuracy import fidelity, top_k_accuracy
from benchlab.metrics.stats import mann_whitney_p, median_ci_ranks, minimum_detectable_change, paired_shift, summarize


def one_per_repeat(values) -> list[list[float]]:  # type: ignore[no-untyped-def]
    """Each value as one repeat of one iteration."""
    return [[float(v)] for v in values]


def hierarchical(rng: np.random.Generator, repeats: int, iterations: int, between: float = 0.06,
                 within: float = 0.01, median_us: float = 1000.0) -> list[list[float]]:
    """Repeats with their own centres (6% apart, as measured here at 1 thread), iterations 1% around them."""
    return [list(c * rng.lognormal(0, within, iterations)) for c in median_us * rng.lognormal(0, between, repeats)]


def test_median_ci_ranks_match_binomial_tables() -> None:
    # Published order-statistic intervals for the median at 95%: n=10 -> x(2)..x(9),
    # n=50 -> x(18)..x(33) (1-based), i.e. 0-based ranks (1, 8) and (17, 32).
    assert median_ci_ranks(10) == (1, 8)
    assert median_ci_ranks(50) == (17, 32)


def test_too_few_samples_give_no_interval() -> None:
    assert median_ci_ranks(5) is None
    summary = summarize(one_per_repeat([1000.0, 1100.0, 1200.0]))
    assert summary is not None and summary.ci_low_ms is None and summary.median_ms == pytest.approx(1.1)
    many_iterations = summarize([list(np.linspace(900, 1100, 5000))])  # one repeat: still no interval
    assert many_iterations.repeats == 1 and many_iterations.ci_low_ms is None


def test_median_interval_covers_true_median_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    true_median = np.log(2.0) * 1000.0  # exponential(scale 1000 us): skewed like real latencies
    covered = 0
    for _ in range(400):
        summary = summarize(one_per_repeat(rng.exponential(1000.0, size=40)))
        assert summary is not None
        covered += summary.ci_low_ms * 1000 <= true_median <= summary.ci_high_ms * 1000
    assert 0.92 <= covered / 400 <= 0.995


def test_summary_is_computed_in_milliseconds_from_microseconds() -> None:
    summary = summarize(one_per_repeat([2000.0, 1000.0, 3000.0, 4000.0]))
    assert summary is not None
    assert (summary.count, summary.min_ms, summary.max_ms, summary.median_ms) == (4, 1.0, 4.0, 2.5)
    assert summary.cv == pytest.approx(summary.std_ms / summary.mean_ms)
    assert summarize([]) is None


def test_the_interval_rests_on_repeats_and_covers_the_true_median_on_hierarchical_data() -> None:
    """With between-repeat spread larger than within-repeat (as on this machine), an interval from
    all iterations would be far too narrow; the one from repeat medians holds its 95%."""
    rng = np.random.default_rng(11)
    covered = naive_covered = 0
    for _ in range(400):
        repeats = hierarchical(rng, repeats=10, iterations=200)
        summary = summarize(repeats)
        assert summary.repeats == 10 and summary.count == 2000
        covered += summary.ci_low_ms <= 1.0 <= summary.ci_high_ms
        flat = summarize([[v for r in repeats for v in r]])  # everything as one "repeat": iterations only
        ranks = median_ci_ranks(2000)
        ordered = np.sort([v for r in repeats for v in r]) / 1000.0
        naive_covered += ordered[ranks[0]] <= 1.0 <= ordered[ranks[1]]
        assert flat.ci_low_ms is None
    assert 0.93 <= covered / 400 <= 1.0
    assert naive_covered / 400 < 0.5  # the iteration-level interval misses most of the time


def test_paired_shift_finds_a_shift_common_drift_cannot_hide() -> None:
    rng = np.random.default_rng(12)
    drift = rng.normal(0, 0.10, 8)  # each round 10% up or down for both jobs alike
    base = drift + rng.normal(0, 0.01, 8)
    cand = drift + np.log(1.05) + rng.normal(0, 0.01, 8)
    estimate, low, high, p = paired_shift(cand - base)
    assert low > 0 and p < 0.05 and estimate == pytest.approx(np.log(1.05), abs=0.02)
    assert paired_shift(np.zeros(8))[3] == 1.0  # identical rounds: nothing to see
    assert paired_shift(rng.normal(0, 0.01, 5))[1] is None  # 5 pairs: no 95% interval exists


def test_paired_shift_false_alarms_stay_near_alpha() -> None:
    rng = np.random.default_rng(13)
    flagged = sum(paired_shift(rng.normal(0, 0.05, 6))[3] < 0.05 for _ in range(1000))
    assert flagged / 1000 <= 0.05


def test_minimum_detectable_change_grows_with_spread_and_shrinks_with_repeats() -> None:
    assert minimum_detectable_change(0.06, 6, 6) > minimum_detectable_change(0.06, 12, 12)
    assert minimum_detectable_change(0.03, 6, 6) < minimum_detectable_change(0.06, 6, 6)
    assert minimum_detectable_change(0.06, 6, 6) == pytest.approx(10.5, abs=1.0)
    assert minimum_detectable_change(None, 6, 6) is None and minimum_detectable_change(0.06, 1, 6) is None


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
    result = fidelity({"scores": outputs}, {"scores": reference}, "fp32")
    assert result.reference_variant == "fp32"
    assert result.top1_agreement == pytest.approx(2 / 3)
    assert result.max_abs_error == pytest.approx(0.2)
    assert result.mean_abs_error == pytest.approx((0.1 * 4 + 0.2 * 2) / 6)


def test_a_mask_that_rounds_to_zero_scores_cosine_zero_not_no_figure() -> None:
    """A full-int8 segmentation mask that quantizes to zero everywhere (MediaPipe's selfie segmentation
    on synthetic inputs) lost its signal: it must be judged, not left without a cosine."""
    reference = np.zeros((4, 8, 8, 1))
    reference[:2, 3:5, 3:5] = 0.002  # two samples with a faint mask, two with none
    ours = np.zeros_like(reference)
    result = fidelity({"mask": ours}, {"mask": reference}, "original")
    # The empty samples agree (1.0 each), the two that lost their mask score 0.
    assert result.outputs[0].cosine == pytest.approx(0.5)


def test_mann_whitney_p_is_scipys_p_value_on_samples_with_and_without_ties() -> None:
    """Asked once per pattern of ranks, the p-value is still scipy's to the last bit: repeat latencies
    (log-normal, few repeats a side, some rounded so ties occur), and a NaN left to scipy's policy."""
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(26)
    for _ in range(400):
        n, m = rng.integers(1, 9, size=2)
        cand, base = rng.lognormal(1.0, 0.1, size=n), rng.lognormal(1.05, 0.1, size=m)
        if rng.random() < 0.5:  # a tool printing two decimals: ties within and across the samples
            cand, base = np.round(cand, 1), np.round(base, 1)
        expected = float(mannwhitneyu(cand, base, alternative="two-sided").pvalue)
        assert mann_whitney_p(cand, base) == expected or (np.isnan(expected) and np.isnan(mann_whitney_p(cand, base)))
    with_nan = mann_whitney_p([1.0, float("nan"), 2.0], [1.5, 2.5, 3.0])
    assert np.isnan(with_nan) == np.isnan(mannwhitneyu([1.0, float("nan"), 2.0], [1.5, 2.5, 3.0]).pvalue)
