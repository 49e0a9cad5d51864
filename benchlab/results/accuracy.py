"""Accuracy from outputs: top-k against labels, and fidelity against the reference variant.

Fidelity compares a variant's outputs with the fp32 (reference) variant's on the same inputs, on
the same device and accelerator setting, so a model without labels still gets a number and a
quantized variant that quietly flips predictions shows up even where top-1 barely moves.
"""

from __future__ import annotations

import numpy as np

from benchlab.records import Fidelity


def top_k_accuracy(outputs: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Return the fraction (0-1) of samples whose label is among the k highest outputs.

    Raises ValueError when outputs and labels disagree in length.
    """
    scores = outputs.reshape(len(outputs), -1)
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} outputs but {len(labels)} labels")
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def fidelity(outputs: np.ndarray, reference: np.ndarray, reference_variant: str) -> Fidelity:
    """Return top-1 agreement and max/mean absolute error of outputs against the reference outputs.

    Raises ValueError when the two arrays differ in shape.
    """
    if outputs.shape != reference.shape:
        raise ValueError(f"outputs {outputs.shape} and reference {reference.shape} differ in shape")
    ours = outputs.reshape(len(outputs), -1).astype(np.float64)
    theirs = reference.reshape(len(reference), -1).astype(np.float64)
    error = np.abs(ours - theirs)
    return Fidelity(
        reference_variant=reference_variant,
        top1_agreement=float(np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1))),
        max_abs_error=float(error.max()),
        mean_abs_error=float(error.mean()),
    )
