"""Accuracy from outputs: top-k against labels, and fidelity of every output against the reference variant.

Fidelity compares a variant's outputs with the fp32 (reference) variant's on the same inputs, on
the same device and accelerator setting, so a model without labels still gets numbers and a
quantized variant that quietly flips predictions, or bends a mask or a box, shows up even where
top-1 barely moves.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from benchlab.records import Fidelity, OutputFidelity

Outputs = Mapping[str, np.ndarray]


def top_k_accuracy(outputs: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Return the fraction (0-1) of samples whose label is among the k highest outputs.

    Raises ValueError when outputs and labels disagree in length.
    """
    scores = outputs.reshape(len(outputs), -1)
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} outputs but {len(labels)} labels")
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=1)))


def is_class_scores(values: np.ndarray) -> bool:
    """True for an output shaped (samples, classes) with at least two classes: top-1 can mean something."""
    return values.ndim == 2 and values.shape[1] >= 2


def looks_like_probabilities(values: np.ndarray) -> bool:
    """True for class scores whose rows are non-negative and sum to 1 (a softmax), unlike a box or an embedding."""
    return is_class_scores(values) and bool(np.all(values >= 0)) and bool(
        np.allclose(values.sum(axis=1), 1.0, atol=1e-2))


def pair_outputs(ours: Outputs, theirs: Outputs) -> list[tuple[str, str]]:
    """Return (our name, their name) pairs: by name when both have the same names, else by position.

    Raises ValueError when the two have a different number of outputs.
    """
    if set(ours) == set(theirs):
        return [(name, name) for name in ours]
    if len(ours) != len(theirs):
        raise ValueError(f"{len(ours)} outputs ({', '.join(ours)}) but the reference has "
                         f"{len(theirs)} ({', '.join(theirs)})")
    return list(zip(ours, theirs))


def output_fidelity(name: str, outputs: np.ndarray, reference: np.ndarray, class_scores: bool) -> OutputFidelity:
    """Return max/mean absolute error, cosine similarity, SNR and (for class scores) top-1 agreement.

    Raises ValueError when the two arrays differ in shape.
    """
    if outputs.shape != reference.shape:
        raise ValueError(f"output {name!r}: {outputs.shape} and reference {reference.shape} differ in shape")
    ours = outputs.reshape(len(outputs), -1).astype(np.float64)
    theirs = reference.reshape(len(reference), -1).astype(np.float64)
    error = ours - theirs
    cosine = float(np.mean(_cosines(ours, theirs)))
    noise = float(np.sum(error**2))
    snr_db = 10.0 * float(np.log10(np.sum(theirs**2) / noise)) if noise > 0 and np.any(theirs) else None
    top1 = float(np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1))) if class_scores else None
    return OutputFidelity(name=name, max_abs_error=float(np.abs(error).max()), mean_abs_error=float(np.abs(error).mean()),
                          cosine=cosine, snr_db=snr_db, top1_agreement=top1)


def _cosines(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Return each sample's cosine similarity (rows of two 2-D arrays).

    A row that is all zeros on one side only scores 0 (its signal is lost: a full-int8 mask that
    rounds to zero everywhere), on both sides 1 (the same output), so every variant gets a figure.
    """
    ours_norm, theirs_norm = np.linalg.norm(ours, axis=1), np.linalg.norm(theirs, axis=1)
    norms = ours_norm * theirs_norm
    dots = np.sum(ours * theirs, axis=1) / np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, dots, np.where((ours_norm == 0) & (theirs_norm == 0), 1.0, 0.0))


def fidelity(outputs: Outputs, reference: Outputs, reference_variant: str, scored: str | None = None) -> Fidelity:
    """Return every output's fidelity against the reference's, with the scored output's on top.

    `scored` names the output labels are read from (by our name; default the first output). Top-1
    agreement is given for it when it is shaped as class scores, and for any output whose rows are
    probabilities.
    Raises ValueError when the outputs cannot be paired or differ in shape.
    """
    pairs = pair_outputs(outputs, reference)
    main_name = scored if scored in outputs else pairs[0][0]
    per_output = tuple(
        output_fidelity(ours, outputs[ours], reference[theirs],
                        is_class_scores(reference[theirs]) if ours == main_name
                        else looks_like_probabilities(reference[theirs]))
        for ours, theirs in pairs)
    main = next(o for o in per_output if o.name == main_name)
    return Fidelity(reference_variant=reference_variant, top1_agreement=main.top1_agreement,
                    max_abs_error=main.max_abs_error, mean_abs_error=main.mean_abs_error, outputs=per_output)
