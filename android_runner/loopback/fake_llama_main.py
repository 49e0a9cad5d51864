"""Stand-in for ExecuTorch's ``llama_main`` on the loopback Android device.

When a loopback shell command runs a pushed ``.../llama_main``, this script runs instead (with this
machine's Python). It really generates with the pushed program and tokenizer through ExecuTorch's
``TextLLMRunner`` (the runner ``llama_main`` wraps, examples/models/llama/main.cpp) on this CPU, with
the real tool's generation config (``seq_len`` = prompt + output tokens, ``temperature``), and
prints what the real tool prints: the generated text, then the runner's own report, the stats line
``PyTorchObserver {json}`` and its log lines (the same C++ code prints them), as recorded in
tests/android/public (llama_main_*.txt).

Flags (the real tool's names, gflags' ``--name=value``): ``--model_path``, ``--tokenizer_path``,
``--prompt``, ``--seq_len``, ``--temperature``, ``--cpu_threads`` (accepted; the runner's threadpool
keeps its default here), ``--warmup``. An unknown flag fails
as gflags does ("ERROR: unknown command line flag 'x'", exit 1).
"""

from __future__ import annotations

import sys

from android_runner.loopback.stand_in_flags import parse_flags

KNOWN = {"model_path", "tokenizer_path", "prompt", "seq_len", "temperature", "cpu_threads", "warmup"}


def main(argv: list[str]) -> int:
    flags = parse_flags(argv, KNOWN, "ERROR: unknown command line flag '{name}'")
    from executorch.extension.llm.runner import GenerationConfig, TextLLMRunner

    runner = TextLLMRunner(flags["model_path"], flags["tokenizer_path"])
    config = GenerationConfig(seq_len=int(flags.get("seq_len", 128)), temperature=float(flags.get("temperature", 0.8)))
    if flags.get("warmup") == "true":
        runner.generate(flags.get("prompt", ""), config, token_callback=lambda _: None)
        runner.reset()
    # The runner prints its stats itself, as in llama_main: the "PyTorchObserver {json}" line and the log lines.
    runner.generate(flags.get("prompt", ""), config, token_callback=lambda text: print(text, end="", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
