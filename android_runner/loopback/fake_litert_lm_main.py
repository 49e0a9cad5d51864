"""Stand-in for LiteRT-LM's ``litert_lm_main`` on the loopback Android device.

When a loopback shell command runs a pushed ``.../litert_lm_main``, this script runs instead (with
this machine's Python). It really runs the pushed ``.litertlm`` with LiteRT-LM's benchmark mode
(``litert_lm.Benchmark``, the engine the real binary wraps) on this CPU, and prints what the real
tool prints with ``--benchmark``: the BenchmarkInfo block, line for line as recorded in
tests/android/public (litert_lm_main_*.txt), then, with ``--report_peak_memory_footprint``, the
peak-memory log line in the format of its source (``Peak system ram usage: <MB>MB.`` behind an
absl log prefix) with this process's high-water mark. Everything goes to stderr, as absl logging
and the real tool's printer do.

Flags (the real tool's names; ``--name=value``): ``--model_path``, ``--backend`` (cpu; anything
else fails like a phone without that accelerator), ``--benchmark``, ``--benchmark_prefill_tokens``,
``--benchmark_decode_tokens``, ``--max_num_tokens``, ``--num_cpu_threads``, ``--cache_dir``,
``--report_peak_memory_footprint``. An unknown flag fails with absl's "ERROR: Unknown command line
flag" and exit 1, as the real one does.
"""

from __future__ import annotations

import sys
import time

from android_runner.loopback.stand_in_flags import parse_flags
from benchlab.process_memory import status_mb

KNOWN = {"model_path", "backend", "benchmark", "benchmark_prefill_tokens", "benchmark_decode_tokens",
         "max_num_tokens", "num_cpu_threads", "cache_dir", "report_peak_memory_footprint"}
RULE = "-" * 50


def main(argv: list[str]) -> int:
    flags = parse_flags(argv, KNOWN, "ERROR: Unknown command line flag '{name}'")
    if flags.get("backend", "cpu") != "cpu":
        print(f"F0000 00:00:{time.time():.6f} litert_lm_main.cc:212] Check failed: backend {flags['backend']} "
              "is not available on this device", file=sys.stderr)
        return 134
    import litert_lm

    litert_lm.set_min_log_severity(litert_lm.LogSeverity.ERROR)
    prefill, decode = int(flags["benchmark_prefill_tokens"]), int(flags["benchmark_decode_tokens"])
    info = litert_lm.Benchmark(
        model_path=flags["model_path"], backend=litert_lm.Backend.CPU(thread_count=int(flags.get("num_cpu_threads", 1))),
        prefill_tokens=prefill, decode_tokens=decode, max_num_tokens=int(flags.get("max_num_tokens", 0)) or None,
        cache_dir=flags.get("cache_dir") or ":nocache").run()
    prefill_ms = 1000.0 * info.last_prefill_token_count / info.last_prefill_tokens_per_second \
        if info.last_prefill_tokens_per_second else 0.0
    decode_s = info.last_decode_token_count / info.last_decode_tokens_per_second \
        if info.last_decode_tokens_per_second else 0.0
    print("\n".join([
        RULE, f"  Time to first token: {info.time_to_first_token_in_second:.2f} s", RULE,
        "  Prefill Turns (Total 1 turns):",
        f"    Prefill Turn 1: Processed {info.last_prefill_token_count} tokens in {prefill_ms:.6f}ms duration.",
        f"      Prefill Speed: {info.last_prefill_tokens_per_second:.2f} tokens/sec.", RULE,
        "  Decode Turns (Total 1 turns):",
        f"    Decode Turn 1: Processed {info.last_decode_token_count} tokens in {decode_s:.9f}s duration.",
        f"      Decode Speed: {info.last_decode_tokens_per_second:.2f} tokens/sec.", RULE,
    ]), file=sys.stderr)
    if flags.get("report_peak_memory_footprint") == "true":
        peak_mb = status_mb("VmHWM")  # its own peak: ru_maxrss would carry the loopback shell's parent's
        print(f"I0000 00:00:{time.time():.6f} litert_lm_main.cc:285] Peak system ram usage: {peak_mb:g}MB.",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
