"""What every recipe is: a class with a NAME, an options model, the data it needs and a build().

A recipe module imports no converter at import time (TensorFlow, coremltools load inside build()),
so a suite can be validated, and the registry listed, in well under a second.
"""

from __future__ import annotations

import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from benchlab.optimize.source import SourceModel

#: Data a recipe may need beyond the model: calibration inputs (post-training quantization) or a
#: labelled training split (pruning, quantization-aware training, distillation).
Need = Literal["calibration-data", "training-data"]
#: Source model kinds a suite can name (see benchlab.plan.suite.ModelSpec.kind): "builtin", "keras",
#: "savedmodel", or the name of a model format (benchlab.formats: "tflite", "mlpackage", ...).
ModelKind = str
KERAS_SOURCES: frozenset[str] = frozenset({"keras", "savedmodel", "builtin"})


class Options(BaseModel):
    """Base of every recipe's options: frozen, unknown keys refused. A recipe without options uses it as is."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Recipe(ABC):
    """One way to make a variant from a source model.

    Subclasses set the class attributes and implement build(); the registry holds one instance each.
    One name may have several implementations, one per kind of source (the TensorFlow converter
    for a Keras model, ai-edge-quantizer for a .tflite): the registered one is built with the others
    as `alternatives`, which share its NAME, options and needs, so a suite names "full-int8" for
    either kind of model.
    """

    NAME: ClassVar[str]
    DESCRIPTION: ClassVar[str]
    #: Output format, a name of benchlab.formats ("tflite", "mlpackage"): it decides the file suffix, how
    #: the build proves the file runs, and which devices run it. A YIELDS_KERAS recipe names the format
    #: its finish() converts the trained model to: the variant's format when it ends a chain.
    FORMAT: ClassVar[str]
    #: Model kinds this recipe can be built from.
    SOURCES: ClassVar[frozenset[str]] = KERAS_SOURCES
    OPTIONS: ClassVar[type[Options]] = Options
    NEEDS: ClassVar[frozenset[Need]] = frozenset()
    #: True: weights are stored in fewer bits than float32; False: float32 weights; None: the given
    #: model's weights are kept as they are, whatever they are.
    QUANTIZES_WEIGHTS: ClassVar[bool | None]
    #: The variant other variants of the model are compared against (accuracy deltas, fidelity).
    IS_REFERENCE: ClassVar[bool] = False
    #: The package whose version goes into the cache key (a new converter rebuilds the variant).
    TOOL: ClassVar[str | None] = None
    #: Packages besides TOOL whose versions decide the bytes of a variant built from a source of a kind
    #: (torch, which exports and decomposes a torch model again before a converter reads it): they go
    #: in the cache key too, so a new torch rebuilds what it made.
    SOURCE_TOOLS: ClassVar[Mapping[ModelKind, tuple[str, ...]]] = {}
    #: True: build() writes a trained Keras model (.keras), which a chained step (`then:`) or the
    #: recipe's own finish() makes the variant from (benchlab.optimize.recipes.training).
    YIELDS_KERAS: ClassVar[bool] = False
    #: The model kind a chained step (`then:`) is built from: what this recipe writes, taken as a
    #: source of that kind ("keras": the model a training recipe trained; "tflite": the file a
    #: converter wrote, which the .tflite recipes quantize). None: it writes a finished model that
    #: nothing follows.
    CHAINS_AS: ClassVar[ModelKind | None] = None
    #: Options that name a file (e.g. a student model): a suite resolves a relative one against its folder.
    PATH_OPTIONS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *alternatives: Recipe) -> None:
        """`alternatives`: recipes of this NAME, options and needs that build from other source kinds.

        Raises ValueError when one differs in name, options or needs (a suite validated against this
        recipe would then build something else than it checked).
        """
        for other in alternatives:
            if (other.NAME, other.OPTIONS, other.NEEDS) != (self.NAME, self.OPTIONS, self.NEEDS):
                raise ValueError(f"{type(other).__name__} cannot stand in for recipe {self.NAME!r}: "
                                 "name, options and needs must be the same")
        self.alternatives = alternatives

    def applies_to(self, model_kind: str) -> bool:
        """Return True when this recipe (or one of its alternatives) can be built from a model of `model_kind`."""
        return model_kind in self.SOURCES or any(other.applies_to(model_kind) for other in self.alternatives)

    def for_source(self, model_kind: str) -> Recipe:
        """Return the implementation that builds this recipe's variant from a model of `model_kind`.

        Raises ValueError when none applies (the suite check refuses such a pair before building).
        """
        if model_kind in self.SOURCES:
            return self
        for other in self.alternatives:
            if other.applies_to(model_kind):
                return other.for_source(model_kind)
        raise ValueError(f"recipe {self.NAME} cannot be built from a {model_kind} model")

    def parse_options(self, raw: dict[str, Any]) -> Options:
        """Return the validated options, defaults filled in.

        Raises ValueError with one line naming the option and, where they are few, its allowed values.
        """
        try:
            return self.OPTIONS.model_validate(raw)
        except ValidationError as exc:
            raise ValueError(self._explain(exc.errors()[0])) from None

    def variant_name(self, options: Options) -> str:
        """Return the default variant name; recipes whose options tell variants apart name them."""
        return self.NAME

    def tools(self, source_kind: ModelKind) -> tuple[str, ...]:
        """Return the packages whose versions go in the cache key of this recipe's variant of a `source_kind`
        model: TOOL, then SOURCE_TOOLS of that kind."""
        return (*((self.TOOL,) if self.TOOL else ()), *self.SOURCE_TOOLS.get(source_kind, ()))

    def key_extras(self, options: Options) -> dict[str, str]:
        """Return what else the options point at that decides the variant's bytes (e.g. the hash of a
        file an option names), for the cache key; most recipes' options say it all, so none."""
        return {}

    def refuses_after(self, earlier: str) -> str | None:
        """Return why this recipe cannot be built from the model recipe `earlier` trained (a chain's
        previous step), in one line, or None. The reference is the source as it is, so it follows nothing."""
        if self.IS_REFERENCE:
            return f"{self.NAME} is the reference (the source model as it is); it cannot follow {earlier} in a chain"
        return None

    def check(self, source: SourceModel) -> None:
        """Raise SuiteError, naming the model and the reason, when this recipe can never be built from
        `source`; called for every model and recipe before anything is built. Most recipes find out
        only by building, so the default checks nothing."""

    @abstractmethod
    def build(self, source: SourceModel, options: Options, out_path: Path) -> str | None:
        """Write the variant made from `source` at `out_path` (a file or a package directory); a
        YIELDS_KERAS recipe writes its trained Keras model there instead (a .keras file).

        Returns notes for the variant's row on what was done besides the recipe itself (e.g. the
        source's float16 weights expanded first), or None.
        Raises whatever the converter raises (the caller records it as a failed variant), or
        SuiteError when the source model itself is unusable.
        """

    def _explain(self, error: Any) -> str:
        field = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(self.OPTIONS.model_fields) or "none"
            return f"unknown option {field!r} for recipe {self.NAME} (allowed: {allowed})"
        allowed_values = _allowed_values(self.OPTIONS, field)
        if allowed_values is not None and error["type"] in ("literal_error", "bool_type", "bool_parsing"):
            return f"{field}={error['input']!r} is not allowed (allowed: {allowed_values})"
        return f"{field}={error.get('input')!r}: {error['msg']}"


def _allowed_values(model: type[BaseModel], field: str) -> str | None:
    """Return a field's allowed values as text when the type enumerates them (Literal, bool)."""
    info = model.model_fields.get(field)
    if info is None:
        return None
    annotation = info.annotation
    if annotation is bool:
        return "true, false"
    if typing.get_origin(annotation) is Literal:
        return ", ".join(str(value) for value in typing.get_args(annotation))
    return None
