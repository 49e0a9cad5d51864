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
from typing import Any

from benchlab.optimize.source import SourceModel


def build_coreml(source: SourceModel, recipe: str, options: dict[str, Any], out_path: Path) -> None:
    """Convert `source` to an .mlpackage with one Core ML recipe, written at `out_path`.

    Raises whatever coremltools raises (the caller records it as a failed variant).
    """
    logging.getLogger("coremltools").setLevel(logging.ERROR)  # version-compat chatter per call
    os.environ.setdefault("TQDM_DISABLE", "1")  # its per-pass progress bars would tear our own
    import coremltools as ct
    import coremltools.optimize.coreml as cto

    precision = ct.precision.FLOAT32 if recipe == "coreml-fp32" else ct.precision.FLOAT16
    shape = (1, *source.input_shape)
    program_input = source.keras_model if source.kind != "savedmodel" else str(source.path)
    model = ct.convert(
        program_input,
        convert_to="mlprogram",
        compute_precision=precision,
        inputs=[ct.TensorType(shape=shape)],
        minimum_deployment_target=ct.target.iOS16,
    )
    if recipe == "coreml-int8":
        config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(mode=options["mode"]))
        model = cto.linear_quantize_weights(model, config)
    elif recipe == "coreml-palettize":
        config = cto.OptimizationConfig(
            global_config=cto.OpPalettizerConfig(mode="kmeans", nbits=int(options["bits"]))
        )
        model = cto.palettize_weights(model, config)
    elif recipe == "coreml-prune":
        config = cto.OptimizationConfig(
            global_config=cto.OpMagnitudePrunerConfig(target_sparsity=float(options["sparsity"]))
        )
        model = cto.prune_weights(model, config)
    elif recipe not in ("coreml-fp16", "coreml-fp32"):
        raise ValueError(f"not a Core ML recipe: {recipe}")
    model.save(str(out_path))
