"""Moving evaluation data in and out of quantized tensors, shared by every LiteRT runner."""

from __future__ import annotations

from typing import Any

import numpy as np


def quantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Return float `values` in an input tensor's dtype, using its scale and zero point if integer.

    `detail` is a LiteRT tensor detail (dtype, quantization); float tensors get a plain cast.
    """
    dtype = detail["dtype"]
    if np.issubdtype(dtype, np.floating):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Return an output tensor's values as float32, undoing its scale and zero point if integer."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(values.dtype, np.floating) or scale == 0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale
