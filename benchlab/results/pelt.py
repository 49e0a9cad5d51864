"""PELT with the L1 (median) cost, for many series at once: the search benchlab.results.changepoints runs.

This is ruptures' ``Pelt(model="l1", min_size=m, jump=1)`` (Killick et al. 2012) computed another
way, with the same answer: the same optimal penalised partition, the same first-minimum choice
among equal candidates (the admissible starts in ascending order), the same pruning rule
(``F(t) + C(t, end) <= F(end) + penalty``). ruptures evaluates every segment cost from scratch
(``np.median`` of the slice, then ``sum |x - median|``) inside a pure Python loop: about 1.5 s for a
series of 365 nightly runs, which is half an hour a night for a farm's 1,200 series. Here:

1. **Every segment cost of a series at once, in O(n^2 log n) array operations.** With the values'
   ranks, two (n+1) x n prefix tables hold, for each prefix of the series, how many of its values
   have rank <= v and their sum. The rank of each window's lower middle value is found by bisection
   over v on the counts, for every window at once. With the lower half of a window (its smallest
   ceil(length / 2) values) its cost is ``sum(window) - 2 * sum(lower half)``, plus the median
   when the length is odd (it sits in the lower half): sum |x - median| without the median of an
   even window, whose two middle values cancel. The same number as ruptures' up to rounding (about
   1e-14 on series scaled to unit noise; the signal is centred first so the prefix sums stay small).
2. **The PELT recursion for a batch of equally long series together**: the admissible starts are
   a boolean mask per series, so one pass over the ends serves the whole batch.

tests/test_pelt.py checks the breakpoints against ruptures' on seeded series, steps, outliers and
tied values (a coarse timer).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Series searched together (memory: about 24 * BATCH * n^2 bytes, 50 MB for 16 series of 365 runs).
BATCH = 16


def segment_costs(signals: np.ndarray, min_size: int) -> np.ndarray:
    """Return the L1 cost of every segment of each series: ``costs[b, start, end]`` (NaN below `min_size`).

    `signals` is (series, n). The cost of a segment is the sum of absolute deviations from its median.
    """
    import numpy as np

    batch, n = signals.shape
    centred = signals - np.median(signals, axis=1, keepdims=True)
    order = np.argsort(centred, axis=1, kind="stable")
    ranked = np.take_along_axis(centred, order, axis=1)  # each series' values in rank order
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n), (batch, n)), axis=1)
    series, positions = np.arange(batch)[:, None], np.arange(1, n + 1)[None, :]
    # counts[b, e, v]: how many of the first e values have rank <= v; sums[b, e, v]: their sum.
    counts = np.zeros((batch, n + 1, n), dtype=np.int16 if n < 2**15 else np.int32)
    counts[series, positions, rank] = 1
    counts = counts.cumsum(axis=1, dtype=counts.dtype).cumsum(axis=2, dtype=counts.dtype).ravel()
    sums = np.zeros((batch, n + 1, n))
    sums[series, positions, rank] = centred
    sums = sums.cumsum(axis=1).cumsum(axis=2).ravel()
    starts, ends = np.triu_indices(n + 1, k=min_size)
    length = ends - starts
    # Flat offsets of (b, start, 0) and (b, end, 0) in the tables, one row per series.
    table = (np.arange(batch) * (n + 1) * n)[:, None]
    at_start, at_end = table + starts * n, table + ends * n
    # The rank of each window's lower middle value (its k-th smallest, k = (length - 1) // 2): the
    # smallest v with k + 1 of the window's values of rank <= v, by bisection over v.
    need = (length - 1) // 2 + 1
    low = np.zeros((batch, len(starts)), dtype=np.intp)
    high = np.full((batch, len(starts)), n - 1, dtype=np.intp)
    for _ in range(max(1, math.ceil(math.log2(n)))):
        middle = (low + high) >> 1
        enough = counts.take(at_end + middle) - counts.take(at_start + middle) >= need
        high = np.where(enough, middle, high)
        low = np.where(enough, low, middle + 1)
    # The lower half holds the `need` smallest values; with upper and lower half the cost is their
    # difference, total - 2 * lower (an odd window's median counted in the lower half, added back).
    lower = sums.take(at_end + low) - sums.take(at_start + low)
    total = sums.take(at_end + n - 1) - sums.take(at_start + n - 1)
    costs = np.full((batch, n + 1, n + 1), np.nan)
    costs[:, starts, ends] = total - 2 * lower + np.where(length % 2 == 1, np.take_along_axis(ranked, low, axis=1), 0.0)
    return costs


def pelt_l1(signals: np.ndarray, penalty: float, min_size: int) -> list[list[int]]:
    """Return each series' breakpoints (ends of its segments, the last being n), as ruptures' Pelt gives.

    `signals` is (series, n) with n >= 2 * `min_size`; `penalty` is the cost of one more segment.
    """
    import numpy as np

    batch, n = signals.shape
    costs = segment_costs(signals, min_size)
    total = np.full((batch, n + 1), np.inf)  # F: the best penalised cost of the first e values
    total[:, 0] = 0.0
    previous = np.zeros((batch, n + 1), dtype=np.intp)
    admissible = np.zeros((batch, n + 1), dtype=bool)
    # A partition of the first t values exists for t = 0 and t >= min_size (ruptures skips the others).
    exists = np.zeros(n + 1, dtype=bool)
    exists[0] = True
    exists[min_size:] = True
    rows = np.arange(batch)
    for end in [*range(min_size, n), n]:
        last = end - min_size + 1  # starts 0 .. end - min_size
        admissible[:, last - 1] = exists[last - 1]
        open_ = admissible[:, :last]
        totals = np.where(open_, total[:, :last] + (costs[:, :last, end] + penalty), np.inf)
        best = np.argmin(totals, axis=1)  # the first minimum, as ruptures' min() over ascending starts
        total[:, end] = totals[rows, best]
        previous[:, end] = best
        admissible[:, :last] = open_ & (totals <= total[:, end:end + 1] + penalty)
    found = []
    for b in range(batch):
        ends, at = [], n
        while at > 0:
            ends.append(int(at))
            at = int(previous[b, at])
        found.append(sorted(ends))
    return found


def breakpoints_of(signals: Sequence[np.ndarray], penalty_of: Callable[[int], float], min_size: int) -> list[list[int]]:
    """Return the breakpoints of each signal (any lengths >= 2 * `min_size`), `penalty_of(n)` per length.

    Equally long signals are searched together, BATCH at a time; the result is in the input order.
    """
    import numpy as np

    found: list[list[int]] = [[] for _ in signals]
    by_length: dict[int, list[int]] = {}
    for index, signal in enumerate(signals):
        by_length.setdefault(len(signal), []).append(index)
    for n, indices in by_length.items():
        for first in range(0, len(indices), BATCH):
            chunk = indices[first:first + BATCH]
            stacked = np.stack([np.asarray(signals[i], dtype=float) for i in chunk])
            for index, ends in zip(chunk, pelt_l1(stacked, penalty_of(n), min_size)):
                found[index] = ends
    return found
