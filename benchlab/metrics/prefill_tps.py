"""Prefill speed of a language model: prompt tokens per second, per repeat (llama-bench's pp).

A runner reports it for each repeat of an LLM cell (`Measurement.metric_values["prefill_tps"]`):
the engine's rate over exactly the cell's prompt tokens, tokenization excluded. The median over
repeats with its 95% CI is the row's figure; a comparison tests the time per prompt token at the
repeat level and reports a change without failing the check (decode is what gates: it is what a
user waits on token by token).
"""

from __future__ import annotations

from benchlab.metrics.base import RateMetric, Threshold


class PrefillSpeed(RateMetric):
    """Median prefill tokens/s over the repeats; reported by compare, never fails it."""

    name = "prefill_tps"
    label = "prefill"
    unit = "tok/s"
    position = 21
    column = "prefill_tps"
    count_key = "llm_prefill_tokens"
    threshold = Threshold("prefill_pct", 10.0, "prefill time per prompt token longer by more than this percent "
                                               "and significant: reported, never fails the check")
    gates = False
    terminal_cells = ("prefill tok/s",)
    terminal_when_measured = True  # a run without a language model has nothing in them


METRIC = PrefillSpeed()
