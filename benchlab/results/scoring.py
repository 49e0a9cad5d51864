"""The scoring stage: accuracy and fidelity from stored outputs, after execution.

Execution only measures and stores each job's outputs on the evaluation inputs; this stage turns
them into numbers, from the store alone, so `benchlab report` can redo it and no job has to wait
for its reference. For each measurement with outputs:

* accuracy: top-k against the model's stored labels (when the data has labels);
* fidelity: agreement with the reference (fp32) variant of the same model on the same device and
  accelerator setting, and accuracy_delta, the accuracy difference in points against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from benchlab.results.accuracy import fidelity, top_k_accuracy

if TYPE_CHECKING:
    import numpy as np

    from benchlab.records import Measurement

OutputsOf = Callable[["Measurement"], "Mapping[str, np.ndarray] | None"]
LabelsOf = Callable[[str], "np.ndarray | None"]
#: A model's scored output (None: the first) and top-k.
AccuracyOf = Callable[[str], "tuple[str | None, int]"]


def _scored(outputs: Mapping[str, np.ndarray], name: str | None) -> np.ndarray:
    """Return the output labels are read from: the named one, else the first (an older run's only one)."""
    return outputs[name] if name in outputs else next(iter(outputs.values()))


def _accuracy(outputs: Mapping[str, np.ndarray], labels: np.ndarray | None, output: str | None,
              top_k: int) -> float | None:
    if labels is None:
        return None
    return round(100.0 * top_k_accuracy(_scored(outputs, output), labels, top_k), 3)


def score_measurements(measurements: Sequence[Measurement], outputs_of: OutputsOf, labels_of: LabelsOf,
                       accuracy_of: AccuracyOf = lambda _model: (None, 1)) -> list[Measurement]:
    """Return the measurements with accuracy, accuracy_delta and fidelity filled in where outputs exist.

    Outputs that do not fit the labels or the reference (a shape mismatch) leave the score empty
    and say why in `accuracy_note`, rather than stopping the whole view.
    """
    outputs = {m.job_id: outputs_of(m) for m in measurements if m.status == "ok"}
    references = {(m.variant.model, m.device.id, m.accelerator.name): m for m in measurements
                  if m.variant.is_reference and outputs.get(m.job_id) is not None}
    labels: dict[str, np.ndarray | None] = {}
    scored = []
    for m in measurements:
        ours = outputs.get(m.job_id)
        if ours is None:
            scored.append(m)
            continue
        if m.variant.model not in labels:
            labels[m.variant.model] = labels_of(m.variant.model)
        output, top_k = accuracy_of(m.variant.model)
        metric = f"top{top_k}" if labels[m.variant.model] is not None else None
        try:
            accuracy = _accuracy(ours, labels[m.variant.model], output, top_k)
            reference = references.get((m.variant.model, m.device.id, m.accelerator.name))
            if reference is None:
                scored.append(replace(m, accuracy_metric=metric, accuracy=accuracy))
                continue
            theirs = outputs[reference.job_id]
            assert theirs is not None
            reference_accuracy = _accuracy(theirs, labels[m.variant.model], output, top_k)
            delta = round(accuracy - reference_accuracy, 3) if accuracy is not None and reference_accuracy is not None else None
            scored.append(replace(m, accuracy_metric=metric, accuracy=accuracy, accuracy_delta=delta,
                                  fidelity=fidelity(ours, theirs, reference.variant.name, output)))
        except ValueError as exc:
            scored.append(replace(m, accuracy_note=f"not scored: {exc}"))
    return scored
