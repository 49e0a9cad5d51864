"""Each model's evaluation data, fitted to the .tflite it was built into, chosen after building.

The data is keyed by the input names the built model reads (its signature keys), so every
runner feeds each input by name; a model given no data gets seeded synthetic inputs made from
those inputs. Which output the labels score is checked here too, against the built outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchlab.errors import SuiteError
from benchlab.formats import format_named
from benchlab.plan.datasets import Dataset, synthetic_dataset
from benchlab.plan.suite import Suite
from benchlab.records import Variant
from benchlab.tensors import Feeds, ModelIO


@dataclass(frozen=True)
class EvaluationData:
    """A model's evaluation inputs (by its input names), labels, and what they are, for run.json."""

    inputs: Feeds
    labels: np.ndarray | None
    origin: str
    synthetic: bool
    #: The output the labels are class indices of (None: no labels).
    accuracy_output: str | None


def _measured_io(variants: Sequence[Variant]) -> ModelIO | None:
    """Return the inputs and outputs of a model's reference variant (else its first built one) of a
    format this machine reads (benchlab.formats: a .tflite, read with LiteRT), or None when it has none."""
    readable = [(v, fmt) for v in variants if v.status != "failed" and v.path
                and (fmt := format_named(v.format)) is not None and fmt.described_here]
    readable.sort(key=lambda pair: not pair[0].is_reference)
    if not readable:
        return None
    variant, fmt = readable[0]
    return fmt.describe(Path(str(variant.path)))


def _accuracy_output(suite: Suite, model: str, io: ModelIO, dataset: Dataset) -> str | None:
    """Return the output a model's labels score, checked against its outputs and labels."""
    if dataset.labels is None:
        return None
    spec = next(m for m in suite.models if m.name == model)
    names = io.output_names
    chosen = spec.accuracy.output or names[0]
    if chosen not in names:
        raise SuiteError(suite.where(f"model {model!r}: accuracy.output {chosen!r} is not an output of the "
                                     f"model (outputs: {', '.join(names)})"))
    size = int(np.prod(next(t for t in io.outputs if t.name == chosen).sample_shape))
    if size > 0 and int(dataset.labels.max()) >= size:
        raise SuiteError(f"{dataset.origin}: labels: label {int(dataset.labels.max())} is out of range for "
                         f"output {chosen!r} of model {model!r}, which has {size} values (allowed: 0..{size - 1})")
    return chosen


def evaluation_data(suite: Suite, datasets: Mapping[str, Dataset | None],
                    variants: Sequence[Variant]) -> dict[str, EvaluationData]:
    """Return each model's evaluation data, keyed by the input names its built .tflite reads
    (seeded synthetic inputs for a model given no data).

    Raises SuiteError when the data does not fit a model (before anything is written).
    """
    data = {}
    for spec in suite.models:
        model = spec.name
        dataset = datasets[model]
        io = _measured_io([v for v in variants if v.model == model])
        if io is None:
            if dataset is not None:
                data[model] = EvaluationData(dataset.inputs, dataset.labels, dataset.origin, False, None)
            continue
        fitted = (synthetic_dataset(io.inputs, dict(spec.input_shapes), shared_shapes=spec.from_folder)
                  if dataset is None else dataset.fitted_to(io.inputs, model))
        data[model] = EvaluationData(fitted.inputs, fitted.labels, fitted.origin, fitted.synthetic,
                                     _accuracy_output(suite, model, io, fitted))
    return data
