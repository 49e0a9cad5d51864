"""LiteRT-LM's .litertlm: a language model bundle (prefill and decode signatures, tokenizer, metadata).

A .litertlm is benchmarked as a language model, not as a tensor function: its jobs are the
`scenario.llm` matrix (prompt and generation lengths), its figures prefill and decode tokens per
second, time to first token, init and peak memory (benchlab.metrics: prefill_tps, decode_tps, ttft).
It has one input for the data stage, the prompt's token ids, so a suite needs no dataset for it;
outputs are not compared (random-weight and real models alike are judged on speed and memory).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, TensorInfo

#: The file's first bytes (LiteRT-LM's schema/core/litertlm_header).
MAGIC = b"LITERTLM"
#: The proof's cell: a few tokens each way, enough to load, prefill and decode once.
PROOF_TOKENS = 8
PROOF_TIMEOUT_SECONDS = 300


class LiteRtLm(ModelFormat):
    """A .litertlm bundle, run by LiteRT-LM (host: litert-lm-api; Android: litert_lm_main)."""

    name = "litertlm"
    title = "LiteRT-LM"
    suffix = ".litertlm"
    accelerator_kinds = frozenset({"cpu", "gpu"})
    app_platforms = frozenset({"android", "ios"})
    described_here = True
    generative = True

    def check_contents(self, path: Path) -> str | None:
        """Return why the file is not a .litertlm (its LITERTLM header), else None."""
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                return "is not a LiteRT-LM model (a .litertlm file starts with LITERTLM)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the prompt's token ids as the one input, at the proof's length (the runners make the
        scenario's prompts themselves)."""
        tokens = TensorInfo(name="tokens", tensor_name="tokens", dtype="int32", shape=(1, PROOF_TOKENS))
        return ModelIO(inputs=(tokens,), outputs=())

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Prefill and decode a few tokens once with LiteRT-LM in a child process; return what was done.

        Raises VariantDoesNotRun with the engine's reason in one line.
        """
        from benchlab.llm_bench import LlmRequest, LlmRunFailed, run_child

        request = LlmRequest(model_path=str(path), prefill_tokens=PROOF_TOKENS, decode_tokens=PROOF_TOKENS,
                             kv_cache=4 * PROOF_TOKENS)
        with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
            try:
                result = run_child(request, PROOF_TIMEOUT_SECONDS, Path(folder))
            except LlmRunFailed as exc:
                raise VariantDoesNotRun(f"does not run in LiteRT-LM: {exc}") from None
        return f"prefilled and decoded {PROOF_TOKENS} tokens in LiteRT-LM {result.engine_version}"


FORMAT = LiteRtLm()
