"""Delivery as display rows: each shipped model against the store limits, and the limits themselves.

What crosses which limit is decided in benchlab.decide.delivery; this module only renders it.
"""

from __future__ import annotations

from collections.abc import Iterable

from benchlab.decide.delivery import MB, STORE_LIMITS, Delivery


def _mb(value: int) -> str:
    return f"{value / MB:,.1f}"


def delivery_rows(deliveries: Iterable[Delivery]) -> list[dict[str, str]]:
    """Return one display row per delivery: model, variant, size, app + model, each limit, verdict."""
    rows = []
    for d in deliveries:
        row = {"model": d.model, "variant": d.variant,
               "model MB": _mb(d.model_bytes) + ("" if d.compressed else " (file; zipped size not recorded)"),
               "app + model MB": _mb(d.app_base_bytes + d.model_bytes)}
        checked = {c.limit.label: c for c in d.checks}
        for limit in STORE_LIMITS:
            check = checked.get(limit.label)
            row[limit.label] = ("not this store's format" if check is None else
                                "crosses" if check.crosses else "fits")
        row["delivery"] = d.verdict()
        rows.append(row)
    return rows


def limit_rows() -> list[dict[str, str]]:
    """Return the limits as display rows: store, what, size, what counts, note, source, checked."""
    return [{"limit": limit.label, "counts": "app + model" if limit.bundled else "model alone",
             "note": limit.note, "source": limit.source, "checked": limit.checked} for limit in STORE_LIMITS]
