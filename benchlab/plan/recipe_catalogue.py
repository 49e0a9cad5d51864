"""What planning needs to know of a recipe, without importing the recipes.

Recipes are optimize's plug-ins (benchlab.optimize.recipes): a class each, with its build(). A suite
only checks names, options, model kinds and data needs, so it takes the catalogue as data from
whoever loads it (`load_suite(path, RECIPES)`) and planning never imports building.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationInfo


class RecipeInfo(Protocol):
    """The part of a recipe a suite checks (benchlab.optimize.recipes.base.Recipe has all of it)."""

    NAME: ClassVar[str]
    NEEDS: ClassVar[frozenset[str]]
    #: The model kind a chained step (`then`) is built from (what the recipe writes), None when nothing follows it.
    CHAINS_AS: ClassVar[str | None]
    #: Options that name a file: a relative one is taken from the suite file's folder.
    PATH_OPTIONS: ClassVar[tuple[str, ...]]

    def applies_to(self, model_kind: str) -> bool:
        """Return True when the recipe can be built from a model of `model_kind`."""

    def parse_options(self, raw: dict[str, Any]) -> BaseModel:
        """Return the validated options; raise ValueError with one line naming the option."""

    def variant_name(self, options: Any) -> str:
        """Return the default variant name for these options."""

    def refuses_after(self, earlier: str) -> str | None:
        """Return why this recipe cannot follow recipe `earlier` in a chain (one line), or None."""


#: Recipes by name, as the caller of load_suite hands them in.
RecipeCatalogue = Mapping[str, RecipeInfo]
#: The key of pydantic's validation context under which a suite's validators find the catalogue.
CONTEXT_KEY = "recipes"


def catalogue_of(info: ValidationInfo) -> RecipeCatalogue:
    """Return the recipe catalogue a validation was given.

    Raises TypeError (a programming error, which pydantic lets through) when it was given none.
    """
    if not info.context or CONTEXT_KEY not in info.context:
        raise TypeError("a suite is validated against a recipe catalogue: use load_suite or suite_from_data")
    recipes: RecipeCatalogue = info.context[CONTEXT_KEY]
    return recipes
