"""benchlab.results.pelt finds the change points ruptures' PELT finds: same breakpoints on seeded series
(flat, stepped, with outlier nights, with tied values from a coarse timer), segment costs equal to
ruptures' l1 cost up to rounding."""

from __future__ import annotations

import math

import numpy as np
import ruptures

from benchlab.results.pelt import breakpoints_of, segment_costs

MIN_SIZE = 3


def penalty(runs: int) -> float:
    return 3.0 * math.log(runs)


def ruptures_breakpoints(signal: np.ndarray) -> list[int]:
    return ruptures.Pelt(model="l1", min_size=MIN_SIZE, jump=1).fit(signal.reshape(-1, 1)).predict(pen=penalty(len(signal)))


def seeded_series(count: int) -> list[np.ndarray]:
    """Series of 6 to 90 runs in unit noise around a level like a scaled log latency: flat or with a
    step, some with an outlier night, some rounded so values tie."""
    rng = np.random.default_rng(24)
    found = []
    for index in range(count):
        runs = int(rng.integers(6, 90))
        signal = 170.0 + rng.normal(0.0, 1.0, runs)
        if index % 2:
            signal[int(rng.integers(3, runs - 2)):] += rng.uniform(1.0, 6.0)
        if index % 3 == 0:
            signal[int(rng.integers(0, runs))] += 12.0
        if index % 5 == 0:
            signal = np.round(signal)
        found.append(signal)
    return found


def test_the_breakpoints_are_ruptures_pelt_l1_breakpoints() -> None:
    series = seeded_series(60)
    expected = [ruptures_breakpoints(signal) for signal in series]
    assert breakpoints_of(series, penalty, MIN_SIZE) == expected
    assert sum(len(ends) > 1 for ends in expected) > 15  # steps were there to find


def test_segment_costs_are_ruptures_l1_costs() -> None:
    signal = seeded_series(2)[1]
    reference = ruptures.costs.CostL1().fit(signal.reshape(-1, 1))
    costs = segment_costs(signal[None, :], MIN_SIZE)[0]
    n = len(signal)
    for start in range(n):
        for end in range(start + MIN_SIZE, n + 1):
            assert math.isclose(costs[start, end], reference.error(start, end), rel_tol=1e-12, abs_tol=1e-9)
    assert np.isnan(costs[0, MIN_SIZE - 1])  # too short to be a segment
