"""Size of the variant file, and its deflated size (what an APK or IPA download carries).

Not a runner's figure: the builder records it on the Variant. One number per variant and
deterministic for one recipe and model, so a comparison checks it against `size_pct` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchlab.metrics.base import Metric, Threshold, kb_text
from benchlab.metrics.change import ChangeContext, MetricChange, relative_change
from benchlab.records import Measurement


class Size(Metric):
    """The variant file's bytes; gates on `size_pct`."""

    name = "size"
    label = "size"
    unit = "bytes"
    position = 10
    threshold = Threshold("size_pct", 1.0, "variant file larger by more than this percent")
    compare_heading = "size"
    terminal_cells = ("size KB", "zipped KB")

    def columns(self, m: Measurement) -> dict[str, Any]:
        """Return the file's size and its deflated size in bytes."""
        return {"size_bytes": m.variant.size_bytes, "size_compressed_bytes": m.variant.size_compressed_bytes}

    def change(self, base: Measurement, cand: Measurement, context: ChangeContext) -> MetricChange | None:
        """Return the change in percent of the file's bytes (None when a side has no size)."""
        return relative_change(self.label, self.unit, base.variant.size_bytes, cand.variant.size_bytes,
                               context.threshold)

    def cells(self, row: Mapping[str, Any]) -> dict[str, str]:
        """Return the size and the zipped size in KB."""
        return {"size KB": kb_text(row["size_bytes"]), "zipped KB": kb_text(row["size_compressed_bytes"])}


METRIC = Size()
