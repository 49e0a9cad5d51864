"""Metrics as plug-ins: one module per metric, one registry.

Each module of this package other than the support modules (`base`, `change`, `stats`) defines
`METRIC`, an instance of a `benchlab.metrics.base.Metric` subclass; `registered()` finds them, so a
new metric is one new module here plus its runner-side reporting (the value a runner puts in a
repeat's `Measurement.metric_values`). What reads the registry: the suite's `regression:` section
(one threshold per metric that has one), the tidy table's columns, compare and its CI outputs,
`benchlab check` and the report table.

This package comes first in the flow (tests/test_layers.py): it may import only the shared records,
so every stage can read the registry.
"""

from __future__ import annotations

from functools import cache

from benchlab.metrics.base import Metric
from benchlab.plugins import discover

#: Modules of this package that hold no metric.
SUPPORT_MODULES = frozenset({"base", "change", "stats"})


@cache
def registered() -> tuple[Metric, ...]:
    """Return every metric of this package, ordered by `position` (the order tables show them in).

    Raises TypeError when a metric module has no `METRIC`, ValueError when two share a name or
    not exactly one is the headline.
    """
    found = discover(__name__, __path__, "METRIC", Metric, SUPPORT_MODULES)
    if sum(m.headline for m in found) != 1:
        raise ValueError("exactly one metric must be the headline of a comparison row")
    return tuple(sorted(found, key=lambda m: m.position))


def headline() -> Metric:
    """Return the metric whose status a comparison row takes when nothing gating moved (latency)."""
    return next(m for m in registered() if m.headline)
