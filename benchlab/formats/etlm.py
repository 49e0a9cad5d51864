"""An ExecuTorch language model bundle (.etlm): a folder holding model.pte and its tokenizer.

ExecuTorch's LLM runners (`TextLLMRunner` on the host, `llama_main` on a phone) take a .pte and a
tokenizer file together; the folder keeps the pair one model in a suite, and keeps a plain .pte
(a tensor function, benchlab's `pte` format) apart from a language model. Its jobs are the
`scenario.llm` matrix, like a .litertlm's (benchlab.formats.litertlm).
"""

from __future__ import annotations

from pathlib import Path

from benchlab.formats.language_model import LanguageModelFormat
from benchlab.llm_bench import EXECUTORCH, LlmRequest

PROGRAM = "model.pte"
#: Tokenizer files the ExecuTorch runners read, in the order one is picked.
TOKENIZERS = ("tokenizer.json", "tokenizer.model", "tokenizer.bin")


def tokenizer_of(path: Path) -> Path | None:
    """Return the bundle's tokenizer file, None when it has none."""
    return next((path / name for name in TOKENIZERS if (path / name).is_file()), None)


class ExecuTorchLlm(LanguageModelFormat):
    """A folder NAME.etlm with model.pte and a tokenizer, run by ExecuTorch's LLM runner."""

    name = "etlm"
    title = "ExecuTorch LLM"
    suffix = ".etlm"
    is_directory = True
    accelerator_kinds = frozenset({"cpu"})
    app_platforms = frozenset({"android", "ios"})
    engine = EXECUTORCH
    # As for a plain .pte (benchlab.formats.pte): the delegates are lowered into model.pte by export_llm, and
    # TextLLMRunner and llama_main run what is there; export_llm's XNNPackConfig.enabled decides it.
    xnnpack_fixed = ("an .etlm's model.pte runs the delegates export_llm lowered into it (ExecuTorch's LLM "
                     "runners cannot leave XNNPACK out); export it without backend.xnnpack.enabled=true for the "
                     "portable kernels")

    def check_contents(self, path: Path) -> str | None:
        """Return why the folder is not a bundle (model.pte with a tokenizer beside it), else None."""
        if not (path / PROGRAM).is_file() or tokenizer_of(path) is None:
            return f"is not an ExecuTorch LLM bundle (a folder with {PROGRAM} and one of {', '.join(TOKENIZERS)})"
        with open(path / PROGRAM, "rb") as handle:
            if handle.read(8)[4:8] != b"ET12":
                return f"{PROGRAM} is not an ExecuTorch program (no ET12 identifier)"
        return None

    def llm_request(self, path: Path, prefill: int, decode: int, kv_cache: int, threads: int = 1) -> LlmRequest:
        """Return the request that runs the bundle at `path` in ExecuTorch's LLM runner: its program and tokenizer."""
        return LlmRequest(model_path=str(path / PROGRAM), prefill_tokens=prefill, decode_tokens=decode,
                          kv_cache=kv_cache, threads=threads, engine=self.engine,
                          tokenizer_path=str(tokenizer_of(path)))


FORMAT = ExecuTorchLlm()
