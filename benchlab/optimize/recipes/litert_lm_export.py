"""LiteRT-LM language models from a Hugging Face model directory, in float32, int8 and int4, with litert-torch.

A suite model whose path is a Hugging Face model directory (config.json and a tokenizer: model kind
`hf`) is a decoder litert-torch's generative exporter can build
(`litert_torch.generative.export_hf.export`: the transformers model class the config names, its
prefill and decode signatures for `prefill_lengths` and a KV cache of `cache_length` tokens, the
tokenizer and the chat template, packed into a .litertlm). The three recipes differ only in the
exporter's `quantization_recipe` (ai-edge-quantizer's recipe names, which litert-torch 0.10.0 looks up
in `ai_edge_quantizer.recipe`):

| recipe | quantization_recipe | what it does |
|---|---|---|
| `litert-lm-fp32` | `none` | float32 weights |
| `litert-lm-int8` | `dynamic_wi8_afp32` | int8 weights per channel, activations quantized at run time |
| `litert-lm-int4` | `dynamic_wi4_afp32` | int4 weights per channel, activations quantized at run time |

A directory without weight files (no *.safetensors, no pytorch_model*.bin) is exported with random
weights (`use_random_weights`): nothing is downloaded, the file's size and speed are a real model's
of that shape, its text is noise; the variant's notes say so. Each variant is proven to prefill and
decode a few tokens in LiteRT-LM before it is reported built (benchlab.formats.language_model).
torch, transformers and litert-torch are imported inside build() only.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, PositiveInt

from benchlab.optimize.recipes.base import Options, Recipe
from benchlab.plan.suite import HF_KIND

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: Files that hold a Hugging Face model's weights; a directory with none is exported with random weights.
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")


class LiteRtLmExportOptions(Options):
    """The signatures the exporter makes."""

    prefill_lengths: list[PositiveInt] = Field([32, 128, 512], min_length=1, description=(
        "prefill signatures; LiteRT-LM pads a prompt up to the next one, so the largest bounds a cell's prompt"))
    cache_length: PositiveInt = Field(1024, description="KV cache in tokens: a cell's prompt + generated must fit")


def hf_exporter() -> Any:
    """Return litert-torch's `export_hf.export`, importable next to transformers' `kernels` integration.

    LiteRT-Torch 0.10.0 swaps transformers' `use_kernel_forward_from_hub` for a no-op while
    transformers 5.25, with `kernels` installed, keeps the real `use_kernelized_func`, which then
    refuses the undecorated functions (importing the Gemma / LFM2 modelling code fails). The no-op
    twin is what transformers itself uses when `kernels` is absent.
    """
    import transformers.integrations

    transformers.integrations.use_kernelized_func = lambda *args, **kwargs: (lambda cls: cls)
    import litert_torch
    from litert_torch.generative.export_hf import export

    litert_torch.config.show_progress = False  # its per-stage lines would tear benchlab's progress
    return export.export


def has_weights(folder: Path) -> bool:
    """Return whether a Hugging Face model directory holds weight files."""
    return any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS)


class LiteRtLmExport(Recipe):
    """A .litertlm exported by litert-torch from a Hugging Face model directory, quantized by QUANTIZATION."""

    FORMAT = "litertlm"
    SOURCES = frozenset({HF_KIND})
    OPTIONS: ClassVar[type[Options]] = LiteRtLmExportOptions
    TOOL = "litert-torch"
    #: Besides litert-torch, what decides the file: transformers builds the model, torch exports it,
    #: ai-edge-quantizer quantizes it (their versions go in the cache key).
    SOURCE_TOOLS = {HF_KIND: ("torch", "transformers", "ai-edge-quantizer")}
    #: litert-torch's `quantization_recipe` (ai-edge-quantizer's recipe name, or "none").
    QUANTIZATION: ClassVar[str]

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Export the directory's decoder to a .litertlm at `out_path`; return a note when its weights are random.
        Raises what the exporter raises."""
        assert isinstance(options, LiteRtLmExportOptions)
        random_weights = not has_weights(source.path)
        export = hf_exporter()
        # The exporter prints what it patched ("Qwen3 patch applied.") on stdout, which would tear the
        # build's progress; its failures still raise.
        with tempfile.TemporaryDirectory(prefix="benchlab-litertlm-") as work, \
                contextlib.redirect_stdout(io.StringIO()):
            export(model=str(source.path), output_dir=work, use_random_weights=random_weights,
                   prefill_lengths=list(options.prefill_lengths), cache_length=options.cache_length,
                   quantization_recipe=self.QUANTIZATION)
            shutil.move(Path(work) / "model.litertlm", out_path)
        return ("random weights (the directory holds no weight files): size and speed are real, text is noise"
                if random_weights else None)


class LiteRtLmFp32(LiteRtLmExport):
    NAME = "litert-lm-fp32"
    DESCRIPTION = "LiteRT-LM .litertlm from a Hugging Face model directory (litert-torch), float32 weights"
    QUANTIZES_WEIGHTS = False
    QUANTIZATION = "none"


class LiteRtLmInt8(LiteRtLmExport):
    NAME = "litert-lm-int8"
    DESCRIPTION = "LiteRT-LM .litertlm from a Hugging Face model directory, int8 weights (dynamic_wi8_afp32)"
    QUANTIZES_WEIGHTS = True
    QUANTIZATION = "dynamic_wi8_afp32"


class LiteRtLmInt4(LiteRtLmExport):
    NAME = "litert-lm-int4"
    DESCRIPTION = "LiteRT-LM .litertlm from a Hugging Face model directory, int4 weights (dynamic_wi4_afp32)"
    QUANTIZES_WEIGHTS = True
    QUANTIZATION = "dynamic_wi4_afp32"
