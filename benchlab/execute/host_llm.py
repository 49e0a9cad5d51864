"""A language model's repeat on this machine: one cell of the LLM matrix in a fresh child process.

The host device (benchlab.execute.host_device) hands a job of a generative format here. One repeat
is one child process running the engine's benchmark (benchlab.llm_bench): exactly the cell's
prefill and decode token counts, its figures reported per repeat in `Measurement.metric_values`
(prefill_tps, decode_tps, ttft in µs, and the token counts the engine ran) for the metrics of
benchlab.metrics, its init in `init_us` and the child's peak resident memory in `peak_memory_mb`.

With `scenario.llm.cache: warm` an untimed child runs the same cell first with the same cache
folder, so the timed one finds LiteRT-LM's weight cache ready; `cold` gives the timed child an
empty folder. Either way the row's flags say which (`llm-cache-warm`, `llm-cache-cold`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from benchlab.formats import format_named
from benchlab.formats.language_model import LanguageModelFormat
from benchlab.llm_bench import LlmRunFailed, llm_metric_values, run_child
from benchlab.records import Job, Measurement, now_iso
from benchlab.temp_dirs import owned_tempdir


def language_model(format_name: str) -> LanguageModelFormat | None:
    """Return the language-model format of that name (benchlab.formats), None for any other format."""
    fmt = format_named(format_name)
    return fmt if isinstance(fmt, LanguageModelFormat) else None


def run_llm_repeat(job: Job, base: Measurement) -> Measurement:
    """Run one repeat of an LLM job in a child process and return its Measurement (failed with one line
    when the engine refused the model or the cell)."""
    llm = job.scenario.llm
    assert llm.cell is not None, "an LLM job is planned with its cell (benchlab.execute.executor)"
    fmt = language_model(job.variant.format)
    assert fmt is not None, "the host device hands only a language model's job here"
    # The format says how its file is handed to its engine (an .etlm folder: its program and its tokenizer).
    request = fmt.llm_request(Path(str(job.variant.path)), llm.cell.prefill, llm.cell.decode, llm.kv_cache,
                              threads=job.accelerator.threads or 1)
    flags = (f"llm-cache-{llm.cache}",)
    with owned_tempdir("benchlab-llm") as workdir:
        cache = workdir / "engine-cache"
        cache.mkdir()
        request = replace(request, cache_dir=str(cache))
        try:
            if llm.cache == "warm":
                run_child(request, job.scenario.timeout_seconds, workdir)
            result = run_child(request, job.scenario.timeout_seconds, workdir)
        except LlmRunFailed as exc:
            return replace(base, status="failed", error=str(exc), flags=flags, finished_at=now_iso())
    values = llm_metric_values(result.prefill_tps, result.decode_tps, result.ttft_s, result.prefill_tokens,
                               result.decode_tokens)
    return replace(base, runner=result.engine, runner_version=result.engine_version, init_us=result.init_s * 1e6,
                   peak_memory_mb=result.peak_rss_mb, metric_values=values, flags=flags, finished_at=now_iso())
