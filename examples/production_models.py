"""Tiny models in the shapes production models have: the tests build them (tests/conftest.py wraps them),
and `python -m examples.production_models DIR` writes them as a folder to point a suite at.

Each is a real model TensorFlow builds in a second or two: several inputs and outputs, int32 token
ids, dynamic height and width, int8 quantized inputs and outputs, float16 weights behind DEQUANTIZE
ops (what many published .tflite files carry), and no signature at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The two-tower model's inputs (per sample) and outputs (per sample).
TWO_TOWER_INPUTS = {"image": (16, 16, 3), "meta": (8,)}
TWO_TOWER_OUTPUTS = {"scores": (5,), "box": (4,)}
#: Token ids run 0..VOCAB-1.
VOCAB = 50
SEQUENCE = 12


def export_tflite(model: object, path: Path, **converter_settings: object) -> Path:
    """Convert a Keras model through a SavedModel export (as benchlab does) with optional settings."""
    import tensorflow as tf

    export = path.parent / f"{path.stem}_saved"
    model.export(str(export), verbose=False)  # type: ignore[attr-defined]
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export))
    for key, value in converter_settings.items():
        setattr(converter, key, value)
    path.write_bytes(converter.convert())
    return path


def two_tower_keras(path: Path) -> Path:
    """An image and a metadata vector in; class scores and a box out (two inputs, two outputs)."""
    import keras

    keras.utils.set_random_seed(5)
    image = keras.Input(TWO_TOWER_INPUTS["image"], name="image")
    meta = keras.Input(TWO_TOWER_INPUTS["meta"], name="meta")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    joined = keras.layers.Concatenate()([x, keras.layers.Dense(8, activation="relu")(meta)])
    scores = keras.layers.Dense(5, activation="softmax", name="scores")(joined)
    box = keras.layers.Dense(4, name="box")(joined)
    keras.Model({"image": image, "meta": meta}, {"scores": scores, "box": box}).save(path)
    return path


def two_tower_data(path: Path, count: int = 24) -> Path:
    """An npz keyed by the two-tower model's input names, with labels for its scores."""
    rng = np.random.default_rng(6)
    arrays = {name: rng.random((count, *shape), dtype=np.float32) for name, shape in TWO_TOWER_INPUTS.items()}
    np.savez(path, **arrays, labels=rng.integers(0, 5, count))
    return path


def token_classifier_tflite(path: Path) -> Path:
    """int32 token ids in (a gather on an embedding); intent scores and a pooled vector out."""
    import keras

    keras.utils.set_random_seed(7)
    ids = keras.Input((SEQUENCE,), dtype="int32", name="ids")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(VOCAB, 8)(ids))
    intent = keras.layers.Dense(3, activation="softmax", name="intent")(pooled)
    return export_tflite(keras.Model(ids, {"intent": intent, "pooled": pooled}), path)


def dynamic_hw_tflite(path: Path) -> Path:
    """An image of any height and width in; a per-pixel mask and a global score out."""
    import keras

    keras.utils.set_random_seed(8)
    image = keras.Input((None, None, 3), name="image")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
    mask = keras.layers.Conv2D(1, 1, activation="sigmoid", name="mask")(features)
    score = keras.layers.Dense(1, name="score")(keras.layers.GlobalAveragePooling2D()(features))
    return export_tflite(keras.Model(image, {"mask": mask, "score": score}), path)


def _small_classifier() -> object:
    import keras

    keras.utils.set_random_seed(9)
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(image)
    x = keras.layers.Flatten()(x)
    return keras.Model(image, keras.layers.Dense(5, activation="softmax", name="scores")(x))


def quantized_io_tflite(path: Path) -> Path:
    """A full-int8 model whose input and output tensors are int8 (scale and zero point on each)."""
    import tensorflow as tf

    rng = np.random.default_rng(10)

    def representative():  # type: ignore[no-untyped-def]
        for _ in range(16):
            yield [rng.random((1, 16, 16, 3), dtype=np.float32)]

    return export_tflite(_small_classifier(), path, optimizations=[tf.lite.Optimize.DEFAULT],
                          representative_dataset=representative,
                          target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                          inference_input_type=tf.int8, inference_output_type=tf.int8)


def fp16_weights_tflite(path: Path) -> Path:
    """Float16 weights behind DEQUANTIZE ops, float32 I/O: how many published models ship."""
    import tensorflow as tf

    return export_tflite(_small_classifier(), path, optimizations=[tf.lite.Optimize.DEFAULT],
                          target_spec=tf.lite.TargetSpec(supported_types=[tf.float16]))


def signatureless_tflite(path: Path) -> Path:
    """The small classifier with its signature removed from the flatbuffer (tensor names only)."""
    from tensorflow.lite.tools import flatbuffer_utils

    with_signature = export_tflite(_small_classifier(), path.with_name(f"{path.stem}_signed.tflite"))
    model = flatbuffer_utils.read_model(str(with_signature))
    model.signatureDefs = []
    flatbuffer_utils.write_model(model, str(path))
    return path


#: What `python -m examples.production_models DIR` writes: a folder of .tflite files as a team might have.
FOLDER_MODELS = {
    "token_classifier.tflite": token_classifier_tflite,
    "dynamic_hw.tflite": dynamic_hw_tflite,
    "int8_io.tflite": quantized_io_tflite,
    "fp16_weights.tflite": fp16_weights_tflite,
    "no_signature.tflite": signatureless_tflite,
}


def write_folder(folder: Path) -> list[Path]:
    """Write every folder model, plus the two-tower model as .tflite, into `folder`; return the .tflite paths.

    Intermediate exports go to a temporary folder, so `folder` holds only models.
    """
    import tempfile

    import keras

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        built = [build(Path(work) / name) for name, build in FOLDER_MODELS.items()]
        two_tower = keras.models.load_model(two_tower_keras(Path(work) / "two_tower.keras"))
        built.append(export_tflite(two_tower, Path(work) / "two_tower.tflite"))
        written = []
        for path in built:
            target = folder / path.name
            target.write_bytes(path.read_bytes())
            written.append(target)
    return written


if __name__ == "__main__":
    import sys

    for written in write_folder(Path(sys.argv[1])):
        print(written)
