"""Recipes that use a given model file as it is: a .tflite, an .mlpackage or a .pte someone already made,
or a PyTorch model's exported program (.pt2), its eager reference.

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


class PteAsIs(AsIsRecipe):
    NAME = "pte"
    DESCRIPTION = "an ExecuTorch .pte used as it is"
    FORMAT = "pte"
    SOURCES = frozenset({"pte"})
    IS_REFERENCE = True


class TorchReference(AsIsRecipe):
    """A torch model as its exported program (.pt2), run eagerly by PyTorch on the host: the reference.

    A .pt2 source is copied; a `module:` source was saved as a .pt2 when it was loaded
    (benchlab.optimize.source), so it is copied too. The torch version is in the key: it wrote the file.
    """

    NAME = "torch"
    DESCRIPTION = "eager PyTorch fp32 on the host (the exported program of a torch model): the reference"
    FORMAT = "pt2"
    SOURCES = frozenset({"torch"})
    IS_REFERENCE = True
    TOOL = "torch"

    def variant_name(self, options: Options) -> str:
        return self.NAME


class LitertlmAsIs(AsIsRecipe):
    NAME = "litertlm"
    DESCRIPTION = "a LiteRT-LM language model (.litertlm) used as it is"
    FORMAT = "litertlm"
    SOURCES = frozenset({"litertlm"})
    IS_REFERENCE = True


class EtlmAsIs(AsIsRecipe):
    NAME = "etlm"
    DESCRIPTION = "an ExecuTorch language model bundle (.etlm: model.pte and its tokenizer) used as it is"
    FORMAT = "etlm"
    SOURCES = frozenset({"etlm"})
    IS_REFERENCE = True
