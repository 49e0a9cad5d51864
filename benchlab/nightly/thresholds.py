"""The regression thresholds of a comparison: overrides from the command line of those a run's suite stored
(benchlab.results.run_meta.StoredSuite.regression).

The fields are `benchlab.plan.suite.RegressionSpec`'s: one threshold per gating metric of the
registry (benchlab.metrics), plus the test's alpha and the fewest repeats a test needs.
"""

from __future__ import annotations


from pydantic import ValidationError

from benchlab.plan.suite import RegressionSpec


def parse_threshold(text: str) -> tuple[str, float]:
    """Parse a "NAME=VALUE" override (e.g. "latency_pct=20") of a RegressionSpec field.

    Returns the name and the value as the field holds it; raises ValueError naming the allowed
    names and defaults, or what the field refuses (a negative percent, alpha outside 0..1).
    """
    name, sep, value = (part.strip() for part in text.partition("="))
    fields = RegressionSpec.model_fields
    if not sep or name not in fields:
        allowed = ", ".join(f"{k} (default {f.default})" for k, f in fields.items())
        raise ValueError(f"{text!r} is not NAME=VALUE with NAME one of: {allowed}")
    try:
        checked = RegressionSpec.model_validate({name: value})
    except ValidationError as exc:
        raise ValueError(f"{text!r}: {exc.errors()[0]['msg']}") from None
    number: float = getattr(checked, name)
    return name, number


def with_overrides(thresholds: RegressionSpec, overrides: dict[str, float]) -> RegressionSpec:
    """Return `thresholds` with some fields replaced (validated like a suite's); raises pydantic.ValidationError."""
    return RegressionSpec.model_validate({**thresholds.model_dump(), **overrides})
