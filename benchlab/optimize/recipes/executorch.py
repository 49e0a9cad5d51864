"""ExecuTorch recipes: a torch model's exported program lowered to the XNNPACK backend as a .pte, in float32
(`executorch`) or int8 (`executorch-int8`, PyTorch 2 export quantization with XNNPACKQuantizer).

`executorch-int8` is static by default: weights per channel and activations int8, their ranges calibrated
on the model's representative data. On a transformer whose attention mask is built with integer
arithmetic (Hugging Face's BERT: `add(arange, 0)`), the stock quantizer turns the integer scalars of
add/mul into float tensors before annotating, and calibration stops with "IndexError: tensors used as
indices must be long, int, byte or bool tensors": the variant fails, saying so and naming the option
that works, `{recipe: executorch-int8, options: {dynamic: true}}`. benchlab never switches silently.
The dynamic option quantizes the weights of the Linear layers to int8 and their activations at run time
(per token); it skips the quantizer's scalar-to-tensor transform (only add/mul annotation needs it), which
keeps integer mask code integer. Claims are checked in the written .pte (benchlab.optimize.pte_file): XNNPACK runs the model,
and the int8 variants hold int8 weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from benchlab.optimize.pte_file import read_pte
from benchlab.optimize.recipes.base import Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: What the stock quantizer's float scalar does to integer mask code, in torch's words.
INTEGER_INDEX_ERROR = "tensors used as indices must be long, int, byte or bool tensors"


class ExecuTorchOptions(Options):
    """Which backend the float32 program is lowered to."""

    xnnpack: bool = Field(True, strict=True, description="lower to XNNPACK; false: every operator on ExecuTorch's "
                          "portable kernels (the baseline without XNNPACK, which a .pte cannot leave out at run time)")


class ExecuTorchInt8Options(Options):
    """Static (calibrated) or dynamic int8."""

    dynamic: bool = Field(False, strict=True, description="int8 weights of the Linear layers, activations quantized "
                          "at run time (no calibration); for models the static quantizer cannot calibrate")
    calibration_samples: int = Field(100, ge=1, description="representative samples that calibrate activation ranges "
                                     "(static only)")


class ExecuTorchRecipe(Recipe):
    """A torch program lowered with to_edge_transform_and_lower and the XNNPACK partitioner."""

    FORMAT = "pte"
    SOURCES = frozenset({"torch"})
    TOOL = "executorch"
    #: torch exports and quantizes the program again, torchao's quantizer marks it: both decide its bytes.
    SOURCE_TOOLS = {"torch": ("torch", "torchao")}

    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Write the lowered program at `out_path`; return what the file holds (checked in it)."""
        exported = self.exported(source, options)
        lower(exported, out_path, xnnpack=self.delegates(options))
        return self.claims(out_path, options)

    def delegates(self, options: Options) -> bool:
        """Return whether the program is lowered to XNNPACK (every int8 program is: its kernels are XNNPACK's)."""
        return True

    def exported(self, source: SourceModel, options: Options) -> Any:
        """Return the ExportedProgram to lower: the source's own here."""
        return source.torch_program.exported

    def claims(self, out_path: Path, options: Options) -> str:
        """Return what the written .pte holds; raises ValueError when XNNPACK runs none of it."""
        contents = read_pte(out_path)
        if contents.xnnpack_calls == 0:
            raise ValueError("the written .pte has no XNNPACK part: the partitioner delegated nothing")
        left = contents.kernel_operators
        return (f"XNNPACK runs {contents.xnnpack_calls} part(s); "
                + (f"{_operators(left)} left to ExecuTorch's portable kernels" if left
                   else "nothing left to the portable kernels"))


class ExecuTorchFp32(ExecuTorchRecipe):
    NAME = "executorch"
    DESCRIPTION = "ExecuTorch .pte, XNNPACK backend (or portable kernels only), float32"
    OPTIONS = ExecuTorchOptions
    QUANTIZES_WEIGHTS = False

    def variant_name(self, options: Options) -> str:
        return self.NAME if self.delegates(options) else f"{self.NAME}-portable"

    def delegates(self, options: Options) -> bool:
        assert isinstance(options, ExecuTorchOptions)
        return options.xnnpack

    def claims(self, out_path: Path, options: Options) -> str:
        """Return what the written .pte holds; raises ValueError when a portable program has an XNNPACK part."""
        if self.delegates(options):
            return super().claims(out_path, options)
        contents = read_pte(out_path)
        if contents.xnnpack_calls:
            raise ValueError(f"the written .pte has {contents.xnnpack_calls} XNNPACK part(s); none was asked for")
        return f"no XNNPACK part: {_operators(contents.kernel_operators)} on ExecuTorch's portable kernels"


class ExecuTorchInt8(ExecuTorchRecipe):
    NAME = "executorch-int8"
    DESCRIPTION = "ExecuTorch .pte, XNNPACK backend, int8 (pt2e: static calibrated, or dynamic Linear weights)"
    OPTIONS = ExecuTorchInt8Options
    NEEDS = frozenset({"calibration-data"})
    QUANTIZES_WEIGHTS = True

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, ExecuTorchInt8Options)
        return f"{self.NAME}-dynamic" if options.dynamic else self.NAME

    def exported(self, source: SourceModel, options: Options) -> Any:
        """Return the program quantized with XNNPACKQuantizer (prepare, calibrate, convert), exported again.

        Raises ValueError naming the integer-mask failure and the dynamic option when static calibration
        hits it.
        """
        import torch
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        assert isinstance(options, ExecuTorchInt8Options)
        program = source.torch_program
        prepared = prepare_pt2e(program.exported.module(), _quantizer(options.dynamic))
        samples = [program.example_inputs]
        if not options.dynamic:  # dynamic ranges are measured at run time: nothing to calibrate
            feeds = source.calibration_feeds()
            count = min(options.calibration_samples, len(feeds[program.input_names[0]]))
            samples = [tuple(torch.from_numpy(feeds[name][i : i + 1]) for name in program.input_names)
                       for i in range(count)]
        try:
            with torch.no_grad():
                for sample in samples:
                    prepared(*sample)
        except IndexError as exc:
            if INTEGER_INDEX_ERROR not in str(exc) or options.dynamic:
                raise
            raise ValueError(f"static int8 calibration failed: XNNPACKQuantizer turned an integer scalar (attention-"
                             f"mask code) into a float tensor (IndexError: {INTEGER_INDEX_ERROR}); use "
                             "{recipe: executorch-int8, options: {dynamic: true}} for int8 Linear weights") from None
        return torch.export.export(convert_pt2e(prepared), program.example_inputs)

    def claims(self, out_path: Path, options: Options) -> str:
        """Return what the written .pte holds; raises ValueError when XNNPACK holds no int8 weight."""
        notes = super().claims(out_path, options)
        contents = read_pte(out_path)
        if contents.int8_weights == 0:
            raise ValueError(f"the written .pte holds no int8 weight (XNNPACK constants: {contents.weight_datatypes})")
        total = sum(contents.weight_datatypes.values())
        return f"{contents.int8_weights} of {total} XNNPACK constant tensors int8; {notes}"


def _operators(names: tuple[str, ...]) -> str:
    """Return "N operator(s) (a, b, ...)", the first six named."""
    return f"{len(names)} operator(s) ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})"


def lower(exported: Any, out_path: Path, xnnpack: bool = True) -> None:
    """Lower an ExportedProgram to XNNPACK (or, not `xnnpack`, to ExecuTorch's portable kernels alone) and
    write the ExecuTorch program at `out_path`."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    partitioners = [XnnpackPartitioner()] if xnnpack else []
    program = to_edge_transform_and_lower(exported, partitioner=partitioners).to_executorch()
    out_path.write_bytes(program.buffer)


def _quantizer(dynamic: bool) -> Any:
    """Return XNNPACKQuantizer set for static int8 everywhere it applies, or dynamic int8 of Linear layers."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    if not dynamic:
        return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))

    class DynamicLinearQuantizer(XNNPACKQuantizer):
        """XNNPACKQuantizer without its scalar transform: that makes every add/mul scalar a float tensor (so
        add/mul can be annotated), which breaks integer index arithmetic such as an attention mask's; a
        dynamic config annotates Linear layers only, so add/mul scalars may stay as they are."""

        def transform_for_annotation(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            return model

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    return DynamicLinearQuantizer().set_module_type(torch.nn.Linear, config)
