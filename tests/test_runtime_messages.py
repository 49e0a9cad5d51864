"""LiteRT's error text as one readable line: recorded messages the Python interpreter really raised."""

from __future__ import annotations

import pytest

from benchlab.litert_invoke import readable_error

#: What LiteRT raised preparing the broken full-int8 of BlazeFace front (before the op-code fix).
GLUED = ("failed to delegate MAX_POOL_2D node #11failed to delegate MAX_POOL_2D node #25failed to delegate "
         "MAX_POOL_2D node #39failed to delegate MAX_POOL_2D node #54failed to delegate MAX_POOL_2D node #67"
         "tflite/kernels/conv.cc:390 affine_quantization->zero_point->data[i] != 0 (21 != 0)Node number 0 "
         "(CONV_2D) failed to prepare.")


def test_glued_messages_are_split_the_failing_node_first_and_delegate_notes_counted() -> None:
    assert readable_error(RuntimeError(GLUED)) == (
        "CONV_2D (node 0) failed to prepare: tflite/kernels/conv.cc:390 affine_quantization->zero_point->data[i] "
        "!= 0 (21 != 0); XNNPACK left MAX_POOL_2D (5 nodes) to the built-in kernels")


@pytest.mark.parametrize(("raised", "line"), [
    ("failed to delegate CONCATENATION node #88tflite/kernels/conv.cc:390 affine_quantization->zero_point->data"
     " != 0 (28 != 0)Node number 0 (CONV_2D) failed to prepare.",
     "CONV_2D (node 0) failed to prepare: tflite/kernels/conv.cc:390 affine_quantization->zero_point->data != 0 "
     "(28 != 0); XNNPACK left CONCATENATION (1 node) to the built-in kernels"),
    ("tensorflow/lite/kernels/reshape.cc:92 num_input_elements != num_output_elements (10 != 12)\n"
     "Node number 3 (RESHAPE) failed to prepare.\n",
     "RESHAPE (node 3) failed to prepare: tensorflow/lite/kernels/reshape.cc:92 num_input_elements != "
     "num_output_elements (10 != 12)"),
    ("Encountered unresolved custom op: Convolution2DTransposeBias.\nSee instructions: "
     "https://www.tensorflow.org/lite/guide/ops_custom Node number 5 (Convolution2DTransposeBias) failed to prepare.",
     "custom op Convolution2DTransposeBias not available in this LiteRT runtime"),
    ("Invalid tensor index 5", "Invalid tensor index 5"),
    ("", "RuntimeError"),
])
def test_each_message_is_one_line_with_what_stopped_the_model(raised: str, line: str) -> None:
    assert readable_error(RuntimeError(raised)) == line
