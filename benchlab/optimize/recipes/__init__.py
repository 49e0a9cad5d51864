"""The registry of variant recipes: one module per family, one line per recipe below.

A recipe is a class (benchlab.optimize.recipes.base.Recipe) with a NAME, an options model, the data
it needs, whether it quantizes weights, and build(). Adding one means writing its class in its
family's module and adding one line to `_REGISTERED`. A recipe built differently from another kind
of source takes that implementation as an alternative (the converter's full-int8 for a Keras model,
ai-edge-quantizer's for a .tflite). Nothing here imports a converter, so
validating a suite against the registry stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable

from benchlab.optimize.recipes import (asis, coreai, coreml, distill, edge_quantizer, executorch, litert,
                                       litert_lm_export, model_optimization, torch_to_litert)
from benchlab.optimize.recipes.base import KERAS_SOURCES, Need, Options, Recipe

__all__ = ["KERAS_SOURCES", "RECIPES", "Need", "Options", "Recipe", "register", "unquantized_recipes"]


def register(registry: dict[str, Recipe], recipes: Iterable[Recipe]) -> dict[str, Recipe]:
    """Add recipes to `registry` under their NAME and return it.

    Raises ValueError when a name is already taken: two recipes under one name would silently
    shadow each other in every suite that names it.
    """
    for recipe in recipes:
        if recipe.NAME in registry:
            raise ValueError(
                f"recipe name {recipe.NAME!r} is registered twice "
                f"({type(registry[recipe.NAME]).__name__} and {type(recipe).__name__})"
            )
        registry[recipe.NAME] = recipe
    return registry


_REGISTERED: tuple[Recipe, ...] = (
    litert.Fp32(),
    litert.Fp16(edge_quantizer.Fp16()),
    litert.DynamicInt8(edge_quantizer.DynamicInt8()),
    litert.FullInt8(edge_quantizer.FullInt8()),
    litert.Int16x8(edge_quantizer.Int16x8()),
    model_optimization.Prune(),
    model_optimization.Cluster(),
    model_optimization.Qat(),
    distill.Distill(),
    edge_quantizer.WeightOnlyInt8(),
    asis.TfliteAsIs(),
    coreml.CoreMLFp32(),
    coreml.CoreMLFp16(),
    coreml.CoreMLInt8(),
    coreml.CoreMLPalettize(),
    coreml.CoreMLPrune(),
    asis.MlpackageAsIs(),
    asis.TorchReference(),
    executorch.ExecuTorchFp32(),
    executorch.ExecuTorchInt8(),
    asis.PteAsIs(),
    asis.LitertlmAsIs(),
    asis.EtlmAsIs(),
    torch_to_litert.LiteRTTorch(),
    coreai.CoreAI(),
    litert_lm_export.LiteRtLmFp32(),
    litert_lm_export.LiteRtLmInt8(),
    litert_lm_export.LiteRtLmInt4(),
)

#: Every recipe by name, in the order `benchlab` lists them.
RECIPES: dict[str, Recipe] = register({}, _REGISTERED)


def unquantized_recipes() -> frozenset[str]:
    """Return the names of the recipes whose variants keep the model's float32 weights (the references to beat).

    A recipe that trains (pruning, distillation) keeps float32 weights but changes them: not a reference.
    """
    return frozenset(name for name, recipe in RECIPES.items()
                     if recipe.QUANTIZES_WEIGHTS is False and "training-data" not in recipe.NEEDS)
