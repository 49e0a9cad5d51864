"""An ExecuTorch language model bundle (.etlm): a folder holding model.pte and its tokenizer.

ExecuTorch's LLM runners (`TextLLMRunner` on the host, `llama_main` on a phone) take a .pte and a
tokenizer file together; the folder keeps the pair one model in a suite, and keeps a plain .pte
(a tensor function, benchlab's `pte` format) apart from a language model. Its jobs are the
`scenario.llm` matrix, like a .litertlm's (benchlab.formats.litertlm).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchlab.formats.base import ModelFormat, VariantDoesNotRun
from benchlab.tensors import Feeds, ModelIO, TensorInfo

PROGRAM = "model.pte"
#: Tokenizer files the ExecuTorch runners read, in the order one is picked.
TOKENIZERS = ("tokenizer.json", "tokenizer.model", "tokenizer.bin")
PROOF_TOKENS = 8
PROOF_TIMEOUT_SECONDS = 300


def tokenizer_of(path: Path) -> Path | None:
    """Return the bundle's tokenizer file, None when it has none."""
    return next((path / name for name in TOKENIZERS if (path / name).is_file()), None)


class ExecuTorchLlm(ModelFormat):
    """A folder NAME.etlm with model.pte and a tokenizer, run by ExecuTorch's LLM runner."""

    name = "etlm"
    title = "ExecuTorch LLM"
    suffix = ".etlm"
    is_directory = True
    accelerator_kinds = frozenset({"cpu"})
    app_platforms = frozenset({"android", "ios"})
    described_here = True
    generative = True

    def check_contents(self, path: Path) -> str | None:
        """Return why the folder is not a bundle (model.pte with a tokenizer beside it), else None."""
        if not (path / PROGRAM).is_file() or tokenizer_of(path) is None:
            return f"is not an ExecuTorch LLM bundle (a folder with {PROGRAM} and one of {', '.join(TOKENIZERS)})"
        with open(path / PROGRAM, "rb") as handle:
            if handle.read(8)[4:8] != b"ET12":
                return f"{PROGRAM} is not an ExecuTorch program (no ET12 identifier)"
        return None

    def describe(self, path: Path) -> ModelIO:
        """Return the prompt's token ids as the one input, at the proof's length."""
        tokens = TensorInfo(name="tokens", tensor_name="tokens", dtype="int32", shape=(1, PROOF_TOKENS))
        return ModelIO(inputs=(tokens,), outputs=())

    def prove_runs(self, path: Path, sample: Feeds) -> str:
        """Prefill and decode a few tokens once with ExecuTorch in a child process; return what was done.

        Raises VariantDoesNotRun with the runner's reason in one line.
        """
        from benchlab.llm_bench import EXECUTORCH, LlmRequest, LlmRunFailed, run_child

        request = LlmRequest(model_path=str(path / PROGRAM), prefill_tokens=PROOF_TOKENS, decode_tokens=PROOF_TOKENS,
                             kv_cache=4 * PROOF_TOKENS, engine=EXECUTORCH, tokenizer_path=str(tokenizer_of(path)))
        with tempfile.TemporaryDirectory(prefix="benchlab-proof-") as folder:
            try:
                result = run_child(request, PROOF_TIMEOUT_SECONDS, Path(folder))
            except LlmRunFailed as exc:
                raise VariantDoesNotRun(f"does not run in ExecuTorch: {exc}") from None
        return f"prefilled and decoded {PROOF_TOKENS} tokens in ExecuTorch {result.engine_version}"


FORMAT = ExecuTorchLlm()
