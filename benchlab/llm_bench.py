"""One LLM benchmark run in a child process: prefill P tokens, decode exactly D, report what the engine timed.

Shared by the build's proof that a .litertlm variant runs (benchlab.formats.litertlm) and the host
device's LLM repeats (benchlab.execute.host_llm). Run as ``python -m benchlab.llm_bench
REQUEST.json`` it runs one benchmark and prints one JSON line with the process's peak resident
memory as the kernel counts it (VmHWM, read after the engine finished: the high-water mark of the
whole process, Python included, which LiteRT-LM's API does not report);
`run_child` starts it in a fresh process, waits with a timeout and reads that line.

Two engines, which time different things (the README's LLM section has the table):

- `litert-lm`: LiteRT-LM's own benchmark mode (`litert_lm.Benchmark`, the C API's
  `engine_settings_enable_benchmark`): the prompt is padded with token 0 (or cut) to exactly P
  tokens and D tokens are decoded with the model's own sampler (from its metadata),
  unless a stop token the model emits ends decoding early: the counts are checked, and a short run
  fails. It reports init time, time to first token and the prefill and decode token counts and
  rates of the turn, timing the model calls (tokenization outside).
- `executorch`: ExecuTorch's `TextLLMRunner` on a .pte and its tokenizer: a prompt of exactly P
  tokens (a repeated word, checked against the tokenizer), temperature 0 (greedy), D + 1 new
  tokens asked for, since the runner counts the token prefill produces apart from the D decode
  steps (the export's EOS id is outside the vocabulary, so nothing stops it early). From its stats
  (ms timestamps): prefill rate = P / (prompt evaluated - inference start), decode rate = D /
  (end - prompt evaluated), TTFT = first token - inference start (tokenization inside), init = load.

A cold run starts with an empty cache folder (LiteRT-LM writes its XNNPACK weight cache there on
first load); a warm run reuses the folder a previous run filled. ExecuTorch keeps no such cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Engine names, as rows and TTFT labels show them.
LITERT_LM = "litert-lm"
EXECUTORCH = "executorch"


@dataclass(frozen=True)
class LlmRequest:
    """What one child process runs."""

    model_path: str
    prefill_tokens: int
    decode_tokens: int
    #: KV cache size in tokens (LiteRT-LM's max_num_tokens): prefill + decode must fit.
    kv_cache: int
    threads: int = 1
    #: LiteRT-LM's cache folder (its weight cache): empty for a cold run, filled for a warm one.
    cache_dir: str | None = None
    engine: str = LITERT_LM
    #: The tokenizer file (ExecuTorch: tokenizer.json or tokenizer.model beside the .pte).
    tokenizer_path: str | None = None


@dataclass(frozen=True)
class LlmResult:
    """What one benchmark run measured; times in seconds, as the engines report them."""

    engine: str
    engine_version: str
    init_s: float
    ttft_s: float
    prefill_tokens: int
    prefill_tps: float
    decode_tokens: int
    decode_tps: float
    #: Peak resident memory of the child process in MB (the kernel's high-water mark).
    peak_rss_mb: float | None = None
    #: Wall time of the child process (start to exit) in seconds, set by run_child.
    wall_s: float | None = None


#: The keys of a repeat's `Measurement.metric_values` every LLM runner fills (host and phone): the
#: metrics' own names (benchlab.metrics: prefill_tps, decode_tps, ttft) and the token counts it ran.
PREFILL_TOKENS, DECODE_TOKENS = "llm_prefill_tokens", "llm_decode_tokens"


def llm_metric_values(prefill_tps: float, decode_tps: float, ttft_s: float, prefill_tokens: int,
                      decode_tokens: int) -> dict[str, float]:
    """Return one run's figures as a repeat's metric_values (TTFT in µs, like every time benchlab stores)."""
    return {"prefill_tps": prefill_tps, "decode_tps": decode_tps, "ttft": ttft_s * 1e6,
            PREFILL_TOKENS: float(prefill_tokens), DECODE_TOKENS: float(decode_tokens)}


class LlmRunFailed(RuntimeError):
    """The benchmark did not produce a result; the message is one line with the engine's reason."""


def _litert_lm(request: LlmRequest) -> LlmResult:
    """Run LiteRT-LM's benchmark once and return its figures."""
    from importlib.metadata import version

    import litert_lm

    litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    info = litert_lm.Benchmark(
        model_path=request.model_path, backend=litert_lm.Backend.CPU(thread_count=request.threads),
        prefill_tokens=request.prefill_tokens, decode_tokens=request.decode_tokens,
        max_num_tokens=request.kv_cache, cache_dir=request.cache_dir or ":nocache",
    ).run()
    return LlmResult(
        engine=LITERT_LM, engine_version=version("litert-lm-api"), init_s=info.init_time_in_second,
        ttft_s=info.time_to_first_token_in_second, prefill_tokens=info.last_prefill_token_count,
        prefill_tps=info.last_prefill_tokens_per_second, decode_tokens=info.last_decode_token_count,
        decode_tps=info.last_decode_tokens_per_second,
    )


def exact_prompt(tokenizer_path: str, count: int) -> str:
    """Return a prompt of exactly `count` tokens for a tokenizer.json: one word repeated, checked by encoding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    for word in (" the", " a", " hello", " 0"):
        prompt = word.strip() + word * (count - 1)
        if len(tokenizer.encode(prompt, add_special_tokens=False).ids) == count:
            return prompt
    raise LlmRunFailed(f"no prompt of exactly {count} tokens found for {tokenizer_path}")


def _executorch(request: LlmRequest) -> LlmResult:
    """Generate with ExecuTorch's TextLLMRunner once and return the figures its stats give."""
    from importlib.metadata import version

    from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner

    if request.tokenizer_path is None:
        raise LlmRunFailed("an ExecuTorch model needs its tokenizer")
    prompt = exact_prompt(request.tokenizer_path, request.prefill_tokens)
    runner = TextLLMRunner(request.model_path, request.tokenizer_path)
    stats: list[Any] = []
    runner.generate(prompt, GenerationConfig(echo=False, max_new_tokens=request.decode_tokens + 1,
                                             seq_len=request.kv_cache, temperature=0.0),
                    stats_callback=stats.append)
    # The JSON llama_main prints after "PyTorchObserver " (the runner's stats_to_json_string).
    figures = observer_figures(json.loads(stats[-1].to_json_string()))
    return LlmResult(engine=EXECUTORCH, engine_version=version("executorch"), **asdict(figures))


@dataclass(frozen=True)
class ObserverFigures:
    """One ExecuTorch generation's figures, from its stats (seconds, tokens, tokens per second)."""

    init_s: float
    ttft_s: float
    prefill_tokens: int
    prefill_tps: float
    decode_tokens: int
    decode_tps: float


def observer_figures(stats: dict[str, Any]) -> ObserverFigures:
    """Return the figures of ExecuTorch's LLM stats as its runners print them (`PyTorchObserver {json}`:
    prompt_tokens, generated_tokens and the *_ms timestamps in SCALING_FACTOR_UNITS_PER_SECOND units):
    prefill rate = prompt tokens / (prompt evaluated - inference start), decode rate = generated tokens /
    (end - prompt evaluated), TTFT = first token - inference start, init = model load end - start.

    Raises KeyError for stats without one of those keys.
    """
    to_s = 1.0 / float(stats["SCALING_FACTOR_UNITS_PER_SECOND"])  # timestamps are in these units
    prefill_s = (stats["prompt_eval_end_ms"] - stats["inference_start_ms"]) * to_s
    decode_s = (stats["inference_end_ms"] - stats["prompt_eval_end_ms"]) * to_s
    prompt, generated = int(stats["prompt_tokens"]), int(stats["generated_tokens"])
    return ObserverFigures(
        init_s=(stats["model_load_end_ms"] - stats["model_load_start_ms"]) * to_s,
        ttft_s=(stats["first_token_ms"] - stats["inference_start_ms"]) * to_s,
        prefill_tokens=prompt, prefill_tps=prompt / prefill_s if prefill_s > 0 else 0.0,
        decode_tokens=generated, decode_tps=generated / decode_s if decode_s > 0 else 0.0,
    )


ENGINES = {LITERT_LM: _litert_lm, EXECUTORCH: _executorch}


def run_child(request: LlmRequest, timeout_s: float, workdir: Path) -> LlmResult:
    """Run `request` in a fresh child process; return its result with the child's peak RSS and wall time.

    Raises LlmRunFailed with one line (the engine's last message, a signal, or the timeout).
    """
    request_path = workdir / "llm-request.json"
    request_path.write_text(json.dumps(asdict(request)))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "benchlab.llm_bench", str(request_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise LlmRunFailed(f"timed out after {timeout_s:g} s") from None
    wall = time.perf_counter() - started
    if process.returncode < 0:
        import signal

        raise LlmRunFailed(f"the engine crashed ({signal.Signals(-process.returncode).name})")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        last = [line for line in stderr.splitlines() if line.strip()][-1:] or ["no output"]
        raise LlmRunFailed(f"exited with {process.returncode}: {last[0][:300]}")
    payload: dict[str, Any] = json.loads(lines[-1])
    if "error" in payload:
        raise LlmRunFailed(payload["error"])
    return LlmResult(**{**payload, "wall_s": wall})


def _peak_rss_mb() -> float:
    """Return this process's own peak resident memory in MB: VmHWM on Linux (benchlab.process_memory says
    why not ru_maxrss), ru_maxrss where there is no /proc (macOS reports it in bytes)."""
    from benchlab.process_memory import status_mb

    try:
        return status_mb("VmHWM")
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 / 1024.0


def _main(argv: list[str]) -> int:
    request = LlmRequest(**json.loads(Path(argv[0]).read_text()))
    engine = ENGINES.get(request.engine)
    try:
        if engine is None:
            raise LlmRunFailed(f"unknown engine {request.engine!r} (known: {', '.join(ENGINES)})")
        result = engine(request)
        # Exact token counts are the contract of a pp/tg cell: an engine that ran fewer (a prompt
        # longer than the model's largest prefill signature or its KV cache) measured another cell.
        ran = (result.prefill_tokens, result.decode_tokens)
        if ran != (request.prefill_tokens, request.decode_tokens):
            raise LlmRunFailed(f"the engine ran {ran[0]} prefill and {ran[1]} decode tokens, not the "
                               f"{request.prefill_tokens} and {request.decode_tokens} asked for (does the model's "
                               f"largest prefill signature and KV cache of {request.kv_cache} fit them?)")
    except Exception as exc:  # noqa: BLE001 - an engine raises many kinds; the parent gets one line
        reason = str(exc) if isinstance(exc, LlmRunFailed) else f"{type(exc).__name__}: {exc}"
        print(json.dumps({"error": " ".join(reason.split())[:400]}), flush=True)
        return 1
    # The high-water mark after the engine freed everything is still its peak.
    print(json.dumps({**asdict(result), "peak_rss_mb": round(_peak_rss_mb(), 3)}), flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(_main(sys.argv[1:]))
