"""Recipes that use a given model file as it is: a .tflite or an .mlpackage someone already made.

The file is checked before it is copied into the cache (benchlab.optimize.source.SourceModel.check),
so a broken model is refused as bad input instead of being cached as a variant.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from benchlab.optimize.recipes.base import Options, Recipe

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel


class AsIsRecipe(Recipe):
    """Copy the source model into the cache unchanged."""

    QUANTIZES_WEIGHTS = None

    def variant_name(self, options: Options) -> str:
        return "original"

    def build(self, source: SourceModel, options: Options, out_path: Path) -> None:
        """Copy the source file (or package directory) to `out_path`."""
        if source.path.is_dir():
            shutil.copytree(source.path, out_path)
        else:
            shutil.copyfile(source.path, out_path)


class TfliteAsIs(AsIsRecipe):
    NAME = "tflite"
    DESCRIPTION = "a .tflite file used as it is"
    FORMAT = "tflite"
    SOURCES = frozenset({"tflite"})
    IS_REFERENCE = True


class MlpackageAsIs(AsIsRecipe):
    NAME = "mlpackage"
    DESCRIPTION = "an .mlpackage used as it is"
    FORMAT = "mlpackage"
    SOURCES = frozenset({"mlpackage"})
