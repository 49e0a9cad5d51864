"""The scoring stage: accuracy and fidelity from stored outputs, after execution.

Execution only measures and stores each job's outputs on the evaluation inputs; this stage turns
them into numbers, from the store alone, so `benchlab report` can redo it and no job has to wait
for its reference. For each measurement with outputs:

* accuracy: top-k against the model's stored labels (when the data has labels);
* fidelity: agreement with the reference (fp32) variant of the same model on the same device and
  accelerator setting, and accuracy_delta, the accuracy difference in points against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from benchlab.results.accuracy import fidelity, top_k_accuracy

if TYPE_CHECKING:
    import numpy as np

    from benchlab.records import Measurement

OutputsOf = Callable[["Measurement"], "np.ndarray | None"]
LabelsOf = Callable[[str], "np.ndarray | None"]


def _accuracy(outputs: np.ndarray, labels: np.ndarray | None, top_k: int) -> float | None:
    if labels is None:
        return None
    return round(100.0 * top_k_accuracy(outputs, labels, top_k), 3)


def score_measurements(measurements: Sequence[Measurement], outputs_of: OutputsOf, labels_of: LabelsOf,
                       top_k: int = 1) -> list[Measurement]:
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
        try:
            accuracy = _accuracy(ours, labels[m.variant.model], top_k)
            reference = references.get((m.variant.model, m.device.id, m.accelerator.name))
            if reference is None:
                scored.append(replace(m, accuracy_metric=f"top{top_k}" if accuracy is not None else None,
                                      accuracy=accuracy))
                continue
            theirs = outputs[reference.job_id]
            reference_accuracy = _accuracy(theirs, labels[m.variant.model], top_k)
            delta = round(accuracy - reference_accuracy, 3) if accuracy is not None and reference_accuracy is not None else None
            scored.append(replace(m, accuracy_metric=f"top{top_k}" if accuracy is not None else None,
                                  accuracy=accuracy, accuracy_delta=delta,
                                  fidelity=fidelity(ours, theirs, reference.variant.name)))
        except ValueError as exc:
            scored.append(replace(m, accuracy_note=f"not scored: {exc}"))
    return scored
