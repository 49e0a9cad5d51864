"""LiteRT from PyTorch: a float32 .tflite converted from a torch model with Google's litert-torch.

The recipe writes the variant and is also the first step of a chain (CHAINS_AS "tflite"):
`{recipe: litert-torch, then: full-int8}` quantizes the converted file with the .tflite recipes
(ai-edge-quantizer), so fp16, dynamic and full int8 of a torch model come from the same place as
those of any .tflite.

litert-torch names a signature's inputs after the keyword arguments it was given (positional ones
become `args_0`, `args_1` ...), so the module is called through a wrapper that takes the torch
model's input names as keywords: the .tflite's inputs are named as the model's, and its data and
the eager reference's line up by name. By default litert-torch narrows 64-bit inputs and outputs
(int64 token ids, float64) to 32 bits; the notes say which were narrowed, read in the written file.
torch and litert-torch are imported inside build() only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from benchlab.optimize.recipes.base import Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class LiteRTTorchOptions(Options):
    """What litert-torch is asked to keep."""

    keep_int64: bool = Field(False, description="keep int64 / float64 inputs and outputs (litert-torch's "
                             "enable_x64); by default they are narrowed to 32 bits, which LiteRT's GPU delegate "
                             "and Android's Java API take")


class LiteRTTorch(Recipe):
    NAME = "litert-torch"
    DESCRIPTION = "float32 .tflite converted from a torch model with litert-torch"
    FORMAT = "tflite"
    SOURCES = frozenset({"torch"})
    OPTIONS: ClassVar[type[Options]] = LiteRTTorchOptions
    QUANTIZES_WEIGHTS = False
    TOOL = "litert-torch"
    CHAINS_AS = "tflite"
    #: litert-torch exports the module again with torch.
    SOURCE_TOOLS = {"torch": ("torch",)}

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, LiteRTTorchOptions)
        return f"{self.NAME}-int64" if options.keep_int64 else self.NAME

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Convert `source`'s torch module to a .tflite at `out_path`; return which 64-bit inputs and
        outputs the file holds as 32-bit ones (or None). Raises what litert-torch raises."""
        assert isinstance(options, LiteRTTorchOptions)
        import litert_torch

        litert_torch.config.show_progress = False  # its per-stage lines would tear benchlab's progress
        program = source.torch_program
        named = _keyword_module(program.module, program.input_names)
        converted = litert_torch.convert(named, sample_kwargs=dict(zip(program.input_names, program.example_inputs)),
                                         enable_x64=options.keep_int64)
        converted.export(str(out_path))
        return _narrowed(out_path, program)


def _keyword_module(module: Any, names: tuple[str, ...]) -> Any:
    """Return `module` called with its inputs as keywords named `names` (passed on in that order), so
    litert-torch names the signature's inputs after them; a module unlifted from a saved
    ExportedProgram takes positional inputs only."""
    import torch

    class ByName(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = module

        def forward(self, **inputs: Any) -> Any:
            return self.module(*(inputs[name] for name in names))

    return ByName().eval()


def _narrowed(path: Path, program: Any) -> str | None:
    """Return the inputs the written file holds in another dtype than the torch model, e.g. "int64 inputs
    input_ids, attention_mask narrowed to int32 (keep_int64: true keeps them)"; None when none is."""
    from benchlab.tensors import describe_tflite

    given = {tensor.name: tensor.dtype for tensor in program.inputs}
    changed: dict[tuple[str, str], list[str]] = {}
    for tensor in describe_tflite(path).inputs:
        if tensor.name in given and given[tensor.name] != tensor.dtype:
            changed.setdefault((given[tensor.name], tensor.dtype), []).append(tensor.name)
    return "; ".join(f"{wide} inputs {', '.join(names)} narrowed to {narrow} (keep_int64: true keeps them)"
                     for (wide, narrow), names in changed.items()) or None
