"""LiteRT-LM's .litertlm: a language model bundle (prefill and decode signatures, tokenizer, metadata).

A .litertlm is benchmarked as a language model, not as a tensor function: its jobs are the
`scenario.llm` matrix (prompt and generation lengths), its figures prefill and decode tokens per
second, time to first token, init and peak memory (benchlab.metrics: prefill_tps, decode_tps, ttft).
It has one input for the data stage, the prompt's token ids, so a suite needs no dataset for it;
outputs are not compared (random-weight and real models alike are judged on speed and memory).
"""

from __future__ import annotations

from pathlib import Path

from benchlab.formats.language_model import LanguageModelFormat
from benchlab.llm_bench import LITERT_LM, LlmRequest

#: The file's first bytes (LiteRT-LM's schema/core/litertlm_header).
MAGIC = b"LITERTLM"


class LiteRtLm(LanguageModelFormat):
    """A .litertlm bundle, run by LiteRT-LM (host: litert-lm-api; Android: litert_lm_main)."""

    name = "litertlm"
    title = "LiteRT-LM"
    suffix = ".litertlm"
    accelerator_kinds = frozenset({"cpu", "gpu"})
    app_platforms = frozenset({"android", "ios"})
    engine = LITERT_LM
    # LiteRT-LM's CPU backend is its XNNPACK executor (LlmLiteRTXnnpackExecutor in litert-lm-api 0.18's
    # library): its Engine takes a backend and `enable_ynnpack` (YNNPACK before XNNPACK), nothing that runs a
    # .litertlm on the CPU without XNNPACK; so a noxnnpack row would measure XNNPACK under another name.
    xnnpack_fixed = ("LiteRT-LM runs a .litertlm on the CPU with its XNNPACK executor and has no setting "
                     "that leaves XNNPACK out")

    def check_contents(self, path: Path) -> str | None:
        """Return why the file is not a .litertlm (its LITERTLM header), else None."""
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                return "is not a LiteRT-LM model (a .litertlm file starts with LITERTLM)"
        return None

    def llm_request(self, path: Path, prefill: int, decode: int, kv_cache: int, threads: int = 1) -> LlmRequest:
        """Return the request that runs the .litertlm at `path` in LiteRT-LM (its tokenizer is inside)."""
        return LlmRequest(model_path=str(path), prefill_tokens=prefill, decode_tokens=decode, kv_cache=kv_cache,
                          threads=threads, engine=self.engine)


FORMAT = LiteRtLm()
