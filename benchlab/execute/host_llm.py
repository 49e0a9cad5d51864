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

from benchlab.llm_bench import EXECUTORCH, LlmRequest, LlmRunFailed, llm_metric_values, run_child
from benchlab.records import Job, Measurement, now_iso
from benchlab.temp_dirs import owned_tempdir

def run_llm_repeat(job: Job, base: Measurement) -> Measurement:
    """Run one repeat of an LLM job in a child process and return its Measurement (failed with one line
    when the engine refused the model or the cell)."""
    llm = job.scenario.llm
    assert llm.cell is not None, "an LLM job is planned with its cell (benchlab.execute.executor)"
    request = LlmRequest(model_path=str(job.variant.path), prefill_tokens=llm.cell.prefill,
                         decode_tokens=llm.cell.decode, kv_cache=llm.kv_cache, threads=job.accelerator.threads or 1)
    if job.variant.format == "etlm":  # a folder: the program and its tokenizer
        from benchlab.formats.etlm import PROGRAM, tokenizer_of

        bundle = Path(str(job.variant.path))
        request = replace(request, model_path=str(bundle / PROGRAM), engine=EXECUTORCH,
                          tokenizer_path=str(tokenizer_of(bundle)))
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
