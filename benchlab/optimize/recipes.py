"""The catalogue of variant recipes: names, output formats, which sources they accept, options.

This module is data only (no TensorFlow, no coremltools) so a suite can be validated, and
`benchlab --help` can list recipes, in well under a second. The builders live in tflite.py and
coreml.py and are looked up by `builder` name when a variant is actually built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Source model kinds a suite can name (see benchlab.suite.ModelSpec.kind).
KERAS_SOURCES = frozenset({"keras", "savedmodel", "builtin"})


@dataclass(frozen=True)
class Recipe:
    """How to make one variant: output format, accepted sources, options with their defaults."""

    name: str
    format: str
    sources: frozenset[str]
    builder: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)

    def variant_name(self, options: dict[str, Any]) -> str:
        """Return the default variant name, naming the options that tell variants apart."""
        if self.builder == "as_is":
            return "original"
        if self.name == "coreml-palettize":
            return f"coreml-palettize-{options['bits']}bit"
        if self.name == "coreml-prune":
            return f"coreml-prune-{round(options['sparsity'] * 100)}"
        return self.name


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe("fp32", "tflite", KERAS_SOURCES, "tflite", "LiteRT float32, no optimization (the reference)"),
        Recipe("fp16", "tflite", KERAS_SOURCES, "tflite", "LiteRT float16 weights"),
        Recipe("dynamic-int8", "tflite", KERAS_SOURCES, "tflite", "LiteRT dynamic-range int8 weights, float activations"),
        Recipe(
            "full-int8", "tflite", KERAS_SOURCES, "tflite",
            "LiteRT full integer: int8 weights and activations, int8 inputs/outputs, calibrated",
            {"int8_io": True, "calibration_samples": 200},
        ),
        Recipe(
            "int16x8", "tflite", KERAS_SOURCES, "tflite",
            "LiteRT int16 activations with int8 weights, calibrated",
            {"calibration_samples": 200},
        ),
        Recipe("tflite", "tflite", frozenset({"tflite"}), "as_is", "a .tflite file used as it is"),
        Recipe("coreml-fp32", "mlpackage", KERAS_SOURCES, "coreml", "Core ML ML program, float32"),
        Recipe("coreml-fp16", "mlpackage", KERAS_SOURCES, "coreml", "Core ML ML program, float16"),
        Recipe(
            "coreml-int8", "mlpackage", KERAS_SOURCES, "coreml",
            "Core ML fp16 program with int8 linear (symmetric) weights",
            {"mode": "linear_symmetric"},
        ),
        Recipe(
            "coreml-palettize", "mlpackage", KERAS_SOURCES, "coreml",
            "Core ML fp16 program with k-means palettized weights", {"bits": 4},
        ),
        Recipe(
            "coreml-prune", "mlpackage", KERAS_SOURCES, "coreml",
            "Core ML fp16 program with magnitude-pruned (sparse) weights", {"sparsity": 0.5},
        ),
        Recipe("mlpackage", "mlpackage", frozenset({"mlpackage"}), "as_is", "an .mlpackage used as it is"),
    )
}

#: Allowed values of option fields, checked when a suite is loaded.
OPTION_CHOICES: dict[str, tuple[Any, ...]] = {
    "bits": (1, 2, 3, 4, 6, 8),
    "mode": ("linear_symmetric", "linear"),
    "int8_io": (True, False),
}


def check_options(recipe: Recipe, options: dict[str, Any]) -> dict[str, Any]:
    """Return the recipe's defaults updated with `options`.

    Raises ValueError naming the unknown option or the allowed values of a bad one.
    """
    unknown = sorted(set(options) - set(recipe.defaults))
    if unknown:
        allowed = ", ".join(sorted(recipe.defaults)) or "none"
        raise ValueError(f"unknown option {unknown[0]!r} for recipe {recipe.name} (allowed: {allowed})")
    merged = {**recipe.defaults, **options}
    for key, value in merged.items():
        choices = OPTION_CHOICES.get(key)
        if choices is not None and value not in choices:
            raise ValueError(f"{key}={value!r} is not allowed (allowed: {', '.join(map(str, choices))})")
    if "sparsity" in merged and not 0.0 < float(merged["sparsity"]) < 1.0:
        raise ValueError(f"sparsity={merged['sparsity']!r} must be between 0 and 1")
    if "calibration_samples" in merged and int(merged["calibration_samples"]) < 1:
        raise ValueError("calibration_samples must be at least 1")
    return merged
