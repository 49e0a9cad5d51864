"""Decode speed of a language model: generated tokens per second, per repeat (llama-bench's tg).

A runner reports it for each repeat of an LLM cell (`Measurement.metric_values["decode_tps"]`):
the engine's own rate over exactly the cell's decode tokens (checked). The median over repeats
with its 95% CI is the row's figure; a comparison tests the time per generated token at the repeat
level and fails the check on a significant slowdown past `decode_pct` (benchlab.metrics.base.RateMetric).
"""

from __future__ import annotations

from benchlab.metrics.base import RateMetric, Threshold


class DecodeSpeed(RateMetric):
    """Median decode tokens/s over the repeats; gates on `decode_pct`."""

    name = "decode_tps"
    label = "decode"
    unit = "tok/s"
    position = 22
    column = "decode_tps"
    count_key = "llm_decode_tokens"
    threshold = Threshold("decode_pct", 5.0, "decode time per token (1 / decode tok/s) longer by more than this "
                                             "percent and significant (language models)")
    compare_heading = "decode change"
    terminal_cells = ("decode tok/s",)
    terminal_when_measured = True  # a run without a language model has nothing in them


METRIC = DecodeSpeed()
