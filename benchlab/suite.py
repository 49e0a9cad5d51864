"""Suite files: the YAML schema, loading and validation.

A suite names models, an evaluation dataset, variant recipes, targets, accelerator settings, a
measurement scenario and an accuracy budget. Loading validates everything that can be checked
without building anything, and every error names the file, the field and the allowed values, so a
typo costs a second, not a half-built run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from benchlab.devices import validate_selector
from benchlab.errors import SuiteError
from benchlab.optimize.recipes import RECIPES, check_options
from benchlab.records import (
    ACCELERATOR_KINDS,
    COREML_COMPUTE_UNITS,
    AcceleratorSetting,
    Scenario,
)

BUILTIN_MODELS = ("quickstart-mnist",)
BUILTIN_DATASETS = ("mnist",)
TFLITE_IDENTIFIER = b"TFL3"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """A model to optimize: a file or directory path, or a built-in model."""

    name: str
    path: Path | None = Field(None, description=".keras file, SavedModel dir, .tflite or .mlpackage")
    builtin: str | None = Field(None, description=f"one of {', '.join(BUILTIN_MODELS)}")

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.path is None) == (self.builtin is None):
            raise ValueError("give exactly one of `path` or `builtin`")
        if self.builtin is not None and self.builtin not in BUILTIN_MODELS:
            raise ValueError(f"unknown builtin {self.builtin!r} (allowed: {', '.join(BUILTIN_MODELS)})")
        return self

    @property
    def kind(self) -> str:
        """Return the source kind: builtin, keras, savedmodel, tflite or mlpackage."""
        if self.builtin is not None:
            return "builtin"
        assert self.path is not None
        if self.path.suffix == ".mlpackage":
            return "mlpackage"
        if self.path.suffix == ".tflite":
            return "tflite"
        if self.path.is_dir():
            return "savedmodel"
        return "keras"


class DatasetSpec(_Strict):
    """Evaluation (and calibration) data: an npz file, a folder of labelled images, or a built-in."""

    builtin: str | None = None
    npz: Path | None = Field(None, description="npz with `inputs`, optional `labels` and `representative`")
    images: Path | None = Field(None, description="folder with one sub-folder of images per label")
    limit: int | None = Field(None, ge=1, description="use only the first N evaluation samples")
    scale: Literal["unit", "symmetric", "none"] = Field(
        "unit", description="image pixels to [0,1] (unit), [-1,1] (symmetric) or raw 0-255 (none)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        given = [k for k in ("builtin", "npz", "images") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `builtin`, `npz` or `images`")
        if self.builtin is not None and self.builtin not in BUILTIN_DATASETS:
            raise ValueError(f"unknown builtin {self.builtin!r} (allowed: {', '.join(BUILTIN_DATASETS)})")
        return self


class VariantSpec(_Strict):
    """One recipe with options; `name` defaults to the recipe's name."""

    recipe: str
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("recipe")
    @classmethod
    def _known_recipe(cls, recipe: str) -> str:
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r} (allowed: {', '.join(RECIPES)})")
        return recipe

    @model_validator(mode="after")
    def _known_options(self) -> VariantSpec:
        try:
            object.__setattr__(self, "options", check_options(RECIPES[self.recipe], self.options))
        except ValueError as exc:
            raise ValueError(f"options: {exc}") from None
        return self

    @property
    def variant_name(self) -> str:
        """Return the name the variant is reported under."""
        return self.name or RECIPES[self.recipe].variant_name(self.options)


class AcceleratorSpec(_Strict):
    """An accelerator setting: kind plus threads / XNNPACK / delegate options."""

    kind: str = "cpu"
    name: str | None = None
    threads: int | None = Field(None, ge=1, le=64)
    xnnpack: bool | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in ACCELERATOR_KINDS:
            raise ValueError(f"unknown accelerator {kind!r} (allowed: {', '.join(ACCELERATOR_KINDS)})")
        return kind

    @model_validator(mode="after")
    def _coreml_units(self) -> AcceleratorSpec:
        units = self.options.get("compute_units")
        if self.kind == "coreml" and units not in COREML_COMPUTE_UNITS:
            raise ValueError(
                f"options.compute_units {units!r} is not allowed (allowed: {', '.join(COREML_COMPUTE_UNITS)})"
            )
        return self

    def setting(self) -> AcceleratorSetting:
        """Return the plain record the executor and devices use."""
        return AcceleratorSetting(
            name=self.name or self._default_name(),
            kind=self.kind,
            threads=self.threads,
            xnnpack=self.xnnpack,
            options=dict(self.options),
        )

    def _default_name(self) -> str:
        parts = [self.kind]
        if self.kind == "coreml":
            parts.append(str(self.options["compute_units"]))
        if self.threads is not None:
            parts.append(f"t{self.threads}")
        if self.xnnpack is False:
            parts.append("noxnnpack")
        return "-".join(parts)


class ScenarioSpec(_Strict):
    """How long to measure: warmup runs, iterations and/or minimum seconds, repeats, cooldown."""

    warmup: int = Field(5, ge=0)
    iterations: int = Field(50, ge=1)
    min_seconds: float = Field(0.0, ge=0)
    max_seconds: float = Field(60.0, gt=0)
    repeats: int = Field(6, ge=1, description="runner processes per job, run interleaved; the unit of every statistic")
    cooldown_seconds: float = Field(0.0, ge=0)
    timeout_seconds: float = Field(300.0, gt=0)

    def scenario(self) -> Scenario:
        """Return the plain record the devices use."""
        return Scenario(**self.model_dump())


class AccuracySpec(_Strict):
    """Accuracy metric and how much of it an optimized variant may lose."""

    top_k: int = Field(1, ge=1)
    budget_points: float = Field(1.0, ge=0, description="max top-k drop vs fp32, in percentage points")


class RegressionSpec(_Strict):
    """When `benchlab compare` and `benchlab run --baseline` call a change a regression (benchlab.compare).

    A latency change counts only when significant (Mann-Whitney p < alpha and the 95% CI of the
    change excludes zero) and beyond its threshold; size, peak memory and accuracy are compared
    with their thresholds directly. Field names and defaults are those of benchlab.compare.Thresholds.
    """

    latency_pct: float = Field(5.0, ge=0, description="median latency slower by more than this percent (and significant)")
    size_pct: float = Field(1.0, ge=0, description="variant file larger by more than this percent")
    memory_pct: float = Field(10.0, ge=0, description="peak memory higher by more than this percent")
    accuracy_points: float = Field(0.5, ge=0, description="accuracy lower by more than this many percentage points")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the two-sided Mann-Whitney U test")
    min_repeats: int = Field(5, ge=2, description="fewer repeats on a side: 'not significant (too few repeats)'")


class Suite(_Strict):
    """A whole benchmark suite as loaded from YAML (paths resolved against the file's folder)."""

    name: str
    models: list[ModelSpec] = Field(min_length=1)
    dataset: DatasetSpec
    variants: list[VariantSpec] = Field(min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["host"])
    accelerators: list[AcceleratorSpec] = Field(default_factory=lambda: [AcceleratorSpec()])
    scenario: ScenarioSpec = Field(default_factory=ScenarioSpec)
    accuracy: AccuracySpec = Field(default_factory=AccuracySpec)
    regression: RegressionSpec = Field(default_factory=RegressionSpec)

    @field_validator("variants", mode="before")
    @classmethod
    def _short_variants(cls, value: Any) -> Any:
        # `- fp16` is shorthand for `- recipe: fp16`.
        if isinstance(value, list):
            return [{"recipe": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: list[str]) -> list[str]:
        for target in targets:
            validate_selector(target)
        return targets

    @model_validator(mode="after")
    def _unique_names(self) -> Suite:
        for what, names in (
            ("models", [m.name for m in self.models]),
            ("variants", [v.variant_name for v in self.variants]),
            ("accelerators", [a.setting().name for a in self.accelerators]),
        ):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise ValueError(f"{what}: name {duplicated[0]!r} is used twice; give each a `name`")
        return self

    def accelerator_settings(self) -> list[AcceleratorSetting]:
        """Return the accelerator settings as plain records."""
        return [a.setting() for a in self.accelerators]


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _check_files(suite: Suite, source: Path) -> None:
    """Check that model and dataset paths exist and that recipes fit each model's kind."""
    for i, model in enumerate(suite.models):
        where = f"{source}: models[{i}].path"
        if model.path is not None and not model.path.exists():
            raise SuiteError(f"{where}: {model.path} does not exist")
        if model.kind == "tflite":
            with open(model.path, "rb") as handle:  # type: ignore[arg-type]
                header = handle.read(8)
            if header[4:8] != TFLITE_IDENTIFIER:
                raise SuiteError(f"{where}: {model.path} is not a TFLite flatbuffer (no TFL3 identifier)")
        for j, variant in enumerate(suite.variants):
            recipe = RECIPES[variant.recipe]
            if model.kind not in recipe.sources:
                fitting = ", ".join(name for name, r in RECIPES.items() if model.kind in r.sources)
                raise SuiteError(
                    f"{source}: variants[{j}].recipe: {recipe.name} cannot be built from model "
                    f"{model.name!r} ({model.kind}) (recipes for {model.kind}: {fitting})"
                )
    for key in ("npz", "images"):
        path = getattr(suite.dataset, key)
        if path is not None and not path.exists():
            raise SuiteError(f"{source}: dataset.{key}: {path} does not exist")


def _resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative model and dataset paths relative to the suite file's folder."""
    def resolve(value: Any) -> Any:
        return str((base / value).resolve()) if isinstance(value, str) else value

    for model in raw.get("models") or []:
        if isinstance(model, dict) and "path" in model:
            model["path"] = resolve(model["path"])
    dataset = raw.get("dataset")
    if isinstance(dataset, dict):
        for key in ("npz", "images"):
            if key in dataset:
                dataset[key] = resolve(dataset[key])
    return raw


def parse_suite(raw: Any, source: Path) -> Suite:
    """Validate an already-parsed YAML document; raise SuiteError naming file and field."""
    if not isinstance(raw, dict):
        raise SuiteError(f"{source}: a suite must be a mapping with name, models, dataset, variants")
    try:
        suite = Suite.model_validate(_resolve_paths(raw, source.parent))
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SuiteError(f"{source}: {_location(error['loc'])}: {message}") from None
    _check_files(suite, source)
    return suite


def load_suite(path: Path | str) -> Suite:
    """Load and validate a suite file.

    Raises SuiteError (exit code 2) naming the file, the field and the allowed values.
    """
    source = Path(path)
    if not source.is_file():
        raise SuiteError(f"{source}: suite file not found")
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as exc:
        raise SuiteError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_suite(raw, source)
