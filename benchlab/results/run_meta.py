"""A run's metadata (its run.json) as a typed record: what every stage reads instead of the JSON.

`RunMeta.from_json` reads every run.json benchlab has written (schema versions in
benchlab.results.store): fields a run predates take their defaults (a run from before
`delivery.app_base_mb` weighs the app at 0 MB, one from before `accuracy.min_cosine` judges cosine
at today's default), and keys this benchlab does not know are kept in `extra`, so rewriting a run
(marking it finished) loses nothing.

The suite is stored as it was loaded (`StoredSuite.raw`). The sections later stages judge by
(accuracy budget, regression thresholds, delivery) are read into the suite schema's own models
here, once; resume validates the whole suite again (`StoredSuite.validated`), against the recipes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from benchlab.plan.suite import AccuracySpec, DeliverySpec, RegressionSpec
from benchlab.records import DeviceInfo, Variant

if TYPE_CHECKING:
    from benchlab.plan.recipe_catalogue import RecipeCatalogue
    from benchlab.plan.suite import Suite

_Section = TypeVar("_Section", bound=BaseModel)
_Record = TypeVar("_Record")


def _section(model: type[_Section], raw: Any, name: str) -> _Section:
    """Return a stored suite section as the suite schema's model: fields the run predates take their
    defaults, fields this benchlab does not know (a newer one's) are ignored. Raises ValueError
    naming the section for a value the schema refuses."""
    stated = raw if isinstance(raw, Mapping) else {}
    try:
        return model.model_validate({k: v for k, v in stated.items() if k in model.model_fields and v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(f"suite.{name}.{'.'.join(map(str, error['loc']))}: {error['msg']}") from None


def _record(kind: type[_Record], raw: Any, name: str) -> _Record:
    """Return a stored record (a device, a variant) as its dataclass, keys it does not know ignored.
    Raises ValueError naming it when it is not a mapping or lacks a field."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{name}: a JSON object expected, got {type(raw).__name__}")
    known = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    try:
        return kind(**{k: v for k, v in raw.items() if k in known})
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class StoredSuite:
    """The suite a run recorded, as loaded then, with the sections later stages judge by typed."""

    #: The suite as run.json holds it (the Suite's JSON dump); written back unchanged.
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False)
    accuracy: AccuracySpec = field(default_factory=AccuracySpec)
    regression: RegressionSpec = field(default_factory=RegressionSpec)  # type: ignore[valid-type]
    delivery: DeliverySpec = field(default_factory=DeliverySpec)

    @classmethod
    def from_json(cls, raw: Any) -> StoredSuite:
        """Return the stored suite of run.json's `suite` (None or missing: an empty one); raises
        ValueError naming a section value the suite schema refuses."""
        stated: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        return cls(dict(stated), _section(AccuracySpec, stated.get("accuracy"), "accuracy"),
                   _section(RegressionSpec, stated.get("regression"), "regression"),
                   _section(DeliverySpec, stated.get("delivery"), "delivery"))

    @property
    def dataset(self) -> Any:
        """The suite's `dataset` section as stored (None when it had none), to tell two runs' data apart."""
        return self.raw.get("dataset")

    def top_k(self, model: str) -> int:
        """Return the k of a model's top-k accuracy: its own `accuracy.top_k`, else the suite's."""
        for spec in self.raw.get("models") or ():
            if isinstance(spec, Mapping) and spec.get("name") == model:
                return int((spec.get("accuracy") or {}).get("top_k") or self.accuracy.top_k)
        return self.accuracy.top_k

    def validated(self, recipes: RecipeCatalogue, source: Path | str) -> Suite:
        """Return the whole suite validated again against `recipes` (to resume the run); raises
        SuiteError naming `source` and the field."""
        from benchlab.plan.suite import suite_from_data

        return suite_from_data(dict(self.raw), recipes, source)


@dataclass(frozen=True)
class DataInfo:
    """Where a model's evaluation data came from, as the run recorded it."""

    origin: str = ""
    synthetic: bool = False
    #: The output scored against the labels (None: the first).
    accuracy_output: str | None = None
    #: The model's input names, in the order the data holds them.
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunMeta:
    """What run.json holds: the suite as loaded, host, harness version, devices, variants, data, times."""

    suite_name: str | None = None
    suite: StoredSuite = field(default_factory=StoredSuite)
    run_id: str | None = None
    suite_path: str | None = None
    harness_version: str | None = None
    #: hostname, user, python, platform of the machine that ran it.
    host: Mapping[str, str] = field(default_factory=dict, hash=False)
    devices: tuple[DeviceInfo, ...] = ()
    variants: tuple[Variant, ...] = ()
    #: Each model's evaluation data.
    data: Mapping[str, DataInfo] = field(default_factory=dict, hash=False)
    started_at: str | None = None
    #: None until the run is finished (an interrupted run is resumed, not finished).
    finished_at: str | None = None
    schema_version: int | None = None
    #: Keys of run.json this benchlab does not know (a newer one's), written back as they were.
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RunMeta:
        """Return the record of a run.json object; raises ValueError naming the field that is not
        what run.json holds there (a device that is not an object, a threshold the schema refuses)."""
        known = {f.name for f in fields(cls)} - {"extra"}
        data = raw.get("data") or {}
        if not isinstance(data, Mapping):
            raise ValueError(f"data: a JSON object expected, got {type(data).__name__}")
        return cls(
            suite_name=raw.get("suite_name"), suite=StoredSuite.from_json(raw.get("suite")),
            run_id=raw.get("run_id"), suite_path=raw.get("suite_path"), harness_version=raw.get("harness_version"),
            host=dict(raw.get("host") or {}),
            devices=tuple(_record(DeviceInfo, d, f"devices[{i}]") for i, d in enumerate(raw.get("devices") or ())),
            variants=tuple(_record(Variant, v, f"variants[{i}]") for i, v in enumerate(raw.get("variants") or ())),
            data={model: replace(_record(DataInfo, info, f"data.{model}"), inputs=tuple(info.get("inputs") or ()))
                  for model, info in data.items()},
            started_at=raw.get("started_at"), finished_at=raw.get("finished_at"),
            schema_version=raw.get("schema_version"),
            extra={k: v for k, v in raw.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        """Return run.json's content (what `from_json` reads back as this record)."""
        return {
            "schema_version": self.schema_version, "run_id": self.run_id, "suite_name": self.suite_name,
            "suite_path": self.suite_path, "suite": dict(self.suite.raw), "harness_version": self.harness_version,
            "host": dict(self.host), "devices": [asdict(d) for d in self.devices],
            "variants": [asdict(v) for v in self.variants],
            "data": {model: {**asdict(info), "inputs": list(info.inputs)} for model, info in self.data.items()},
            "started_at": self.started_at, "finished_at": self.finished_at, **self.extra,
        }

    def accuracy_settings(self, model: str) -> tuple[str | None, int]:
        """Return a model's scored output (None: the first) and the k of its top-k accuracy."""
        info = self.data.get(model)
        return (info.accuracy_output if info else None), self.suite.top_k(model)
