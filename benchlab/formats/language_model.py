"""What the language-model formats (.litertlm, .etlm) share: one token-id input, the engine that runs them on
this machine, and a proof that prefills and decodes a few tokens in it, in a child process (benchlab.llm_bench)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, TensorInfo

if TYPE_CHECKING:
    from benchlab.llm_bench import LlmRequest

#: The proof's cell: a few tokens each way, enough to load, prefill and decode once.
PROOF_TOKENS = 8
PROOF_TIMEOUT_SECONDS = 300


def token_io() -> ModelIO:
    """Return what a language model is to the data stage: the prompt's token ids as the one input, at
    the proof's length (the runners make the scenario's prompts themselves); outputs are not compared."""
    tokens = TensorInfo(name="tokens", tensor_name="tokens", dtype="int32", shape=(1, PROOF_TOKENS))
    return ModelIO(inputs=(tokens,), outputs=())


class LanguageModelFormat(ModelFormat):
    """A language model benchmarked by the `scenario.llm` matrix, not as a tensor function; a subclass says
    which engine runs it (`engine`) and how its file is handed over (`llm_request`). The host device runs
    every such format in its engine (benchlab.execute.host_llm), the build proves it there."""

    described_here = True
    generative = True
    #: The benchlab.llm_bench engine that runs it on this machine (its ENGINES key), as rows name the runner.
    engine: ClassVar[str]

    def llm_request(self, path: Path, prefill: int, decode: int, kv_cache: int, threads: int = 1) -> LlmRequest:
        """Return the benchlab.llm_bench.LlmRequest that prefills `prefill` and decodes `decode` tokens of the
        model at `path` in `engine`, with a KV cache of `kv_cache` tokens, on `threads` threads."""
        raise NotImplementedError

    def describe(self, path: Path) -> ModelIO:
        """Return the prompt's token ids as the one input (token_io)."""
        return token_io()

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Prefill and decode a few tokens once in the format's engine, in a child process; return what was done.

        Raises VariantDoesNotRun with the engine's reason in one line.
        """
        from benchlab.llm_bench import LlmRunFailed, run_child

        with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
            try:
                request = self.llm_request(path, PROOF_TOKENS, PROOF_TOKENS, kv_cache=4 * PROOF_TOKENS)
                result = run_child(request, PROOF_TIMEOUT_SECONDS, Path(folder))
            except LlmRunFailed as exc:
                raise VariantDoesNotRun(f"does not run in {self.title}: {exc}") from None
        return f"prefilled and decoded {PROOF_TOKENS} tokens in {self.title} {result.engine_version}"
