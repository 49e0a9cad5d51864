"""Core ML recipes with coremltools: ML program fp32/fp16, int8 linear weights, palettized, pruned.

Compression is applied to the fp16 ML program (the form Apple recommends shipping) with
coremltools' post-training weight compression. Default weight thresholds are kept on purpose:
coremltools leaves tiny tensors (< 2048 elements) uncompressed because their lookup tables would
cost more than they save, which is what an app team shipping the model would get too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from benchlab.optimize.recipes.base import Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class LinearOptions(Options):
    """int8 linear weight quantization."""

    mode: Literal["linear_symmetric", "linear"] = Field("linear_symmetric", description="zero point at 0, or fitted")


class PalettizeOptions(Options):
    """k-means palettization."""

    bits: Literal[1, 2, 3, 4, 6, 8] = Field(4, description="bits per weight index into the palette")


class PruneOptions(Options):
    """Magnitude pruning."""

    sparsity: float = Field(0.5, gt=0.0, lt=1.0, description="fraction of weights set to zero")


class CoreMLRecipe(Recipe):
    """A Core ML ML program converted with coremltools, optionally weight-compressed by a subclass."""

    FORMAT = "mlpackage"
    TOOL = "coremltools"
    #: ct.precision member name the program is converted with.
    PRECISION = "FLOAT16"

    def build(self, source: SourceModel, options: Options, out_path: Path) -> None:
        """Convert `source` to an .mlpackage at `out_path`; raises what coremltools raises."""
        logging.getLogger("coremltools").setLevel(logging.ERROR)  # version-compat chatter per call
        os.environ.setdefault("TQDM_DISABLE", "1")  # its per-pass progress bars would tear our own
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        program_input = source.keras_model if source.kind != "savedmodel" else str(source.path)
        model = ct.convert(
            program_input,
            convert_to="mlprogram",
            compute_precision=getattr(ct.precision, self.PRECISION),
            inputs=[ct.TensorType(name=name, shape=(1, *values.shape[1:]))
                    for name, values in source.dataset.inputs.items()],
            minimum_deployment_target=ct.target.iOS16,
        )
        self.compress(model, cto, options).save(str(out_path))

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        """Return the program with its weights compressed; the plain conversions return it unchanged."""
        return model


class CoreMLFp32(CoreMLRecipe):
    NAME = "coreml-fp32"
    DESCRIPTION = "Core ML ML program, float32"
    QUANTIZES_WEIGHTS = False
    PRECISION = "FLOAT32"


class CoreMLFp16(CoreMLRecipe):
    NAME = "coreml-fp16"
    DESCRIPTION = "Core ML ML program, float16"
    QUANTIZES_WEIGHTS = True


class CoreMLInt8(CoreMLRecipe):
    NAME = "coreml-int8"
    DESCRIPTION = "Core ML fp16 program with int8 linear (symmetric) weights"
    OPTIONS = LinearOptions
    QUANTIZES_WEIGHTS = True

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, LinearOptions)
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode=options.mode))
        return cto.linear_quantize_weights(model, config)


class CoreMLPalettize(CoreMLRecipe):
    NAME = "coreml-palettize"
    DESCRIPTION = "Core ML fp16 program with k-means palettized weights"
    OPTIONS = PalettizeOptions
    QUANTIZES_WEIGHTS = True

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PalettizeOptions)
        return f"{self.NAME}-{options.bits}bit"

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, PalettizeOptions)
        config = cto.OptimizationConfig(global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=options.bits))
        return cto.palettize_weights(model, config)


class CoreMLPrune(CoreMLRecipe):
    NAME = "coreml-prune"
    DESCRIPTION = "Core ML fp16 program with magnitude-pruned (sparse) weights"
    OPTIONS = PruneOptions
    QUANTIZES_WEIGHTS = True  # pruned on the fp16 program: the kept weights are 16-bit

    def variant_name(self, options: Options) -> str:
        assert isinstance(options, PruneOptions)
        return f"{self.NAME}-{round(options.sparsity * 100)}"

    def compress(self, model: Any, cto: Any, options: Options) -> Any:
        assert isinstance(options, PruneOptions)
        config = cto.OptimizationConfig(global_config=cto.OpMagnitudePrunerConfig(target_sparsity=options.sparsity))
        return cto.prune_weights(model, config)
