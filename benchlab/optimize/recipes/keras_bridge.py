"""Carry a Keras 3 model over to tf_keras (Keras 2) and its weights back, for tensorflow-model-optimization.

tfmot 0.8 wraps tf_keras layers only, and benchlab's models are Keras 3 `.keras` files. The bridge
rebuilds the model's graph layer by layer in tf_keras from each layer's class name and config,
following the Keras 3 graph from the outputs back to the inputs, and copies the weights; after
training, `copy_weights_back` writes the trained weights into the Keras 3 model by layer name, so
the variant is exported exactly as the `fp32` reference is (same signature, same input names).

Only the layers mobile CNNs are made of are carried over (LAYERS); a model with another layer, a
layer shared between two call sites, a regularizer or constraint, or a dtype other than float32 is
refused with one line naming the layer. Initializers are not carried: the weights are copied.
Keras and tf_keras are imported inside the functions only.
"""

from __future__ import annotations

import inspect
from typing import Any

#: Keras 3 layer class names the bridge rebuilds in tf_keras (same class name there).
LAYERS: frozenset[str] = frozenset({
    "InputLayer", "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization", "ReLU",
    "Activation", "Flatten", "Reshape", "GlobalAveragePooling2D", "MaxPooling2D", "AveragePooling2D", "Add",
    "Concatenate", "Dropout",
})
#: Config keys whose non-empty value changes training, which the bridge does not carry.
_REFUSED_KEYS = ("regularizer", "constraint")


class BridgeError(ValueError):
    """The model cannot be carried over to tf_keras; the message names the layer and why."""


def unsupported_layer(model: Any) -> str | None:
    """Return why `model` (Keras 3) cannot be carried over, naming the first layer at fault, or None.

    Checks every layer's class, call sites, dtype, regularizers and constraints; builds nothing.
    """
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in LAYERS:
            return (f"layer {layer.name!r} is a {kind}, which the tf_keras bridge does not carry "
                    f"(supported: {', '.join(sorted(LAYERS))})")
        if len(layer._inbound_nodes) > 1:
            return f"layer {layer.name!r} is shared between {len(layer._inbound_nodes)} call sites"
        config = layer.get_config()
        dtype = config.get("dtype")
        dtype_name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
        if dtype_name not in (None, "float32"):
            return f"layer {layer.name!r} computes in {dtype_name} (only float32 is carried over)"
        for key, value in config.items():
            if value is not None and any(key.endswith(part) for part in _REFUSED_KEYS):
                return f"layer {layer.name!r} has a {key}, which the tf_keras bridge does not carry"
        if isinstance(config.get("activation"), dict):
            return f"layer {layer.name!r} has a custom activation, which the tf_keras bridge does not carry"
    return None


def to_tf_keras(model: Any) -> Any:
    """Return a tf_keras functional model with `model`'s graph, layer names and weights.

    Raises BridgeError naming the layer when the model holds one the bridge does not carry.
    """
    import keras
    import tf_keras

    reason = unsupported_layer(model)
    if reason is not None:
        raise BridgeError(reason)
    made: dict[int, Any] = {}  # id of a Keras 3 tensor -> the tf_keras tensor standing for it
    rebuilt: list[tuple[Any, Any]] = []

    def carry(tensor: Any) -> Any:
        if id(tensor) in made:
            return made[id(tensor)]
        layer, node_index, tensor_index = tensor._keras_history
        if type(layer).__name__ == "InputLayer":
            config = layer.get_config()
            result = tf_keras.Input(batch_shape=config["batch_shape"], name=layer.name, dtype=config["dtype"])
        else:
            node = layer._inbound_nodes[node_index]
            args = keras.tree.map_structure(
                lambda value: carry(value) if isinstance(value, keras.KerasTensor) else value, node.arguments.args)
            twin = _twin(tf_keras, layer)
            result = twin(*args)
            rebuilt.append((layer, twin))
            if isinstance(result, (list, tuple)):
                result = result[tensor_index]
        made[id(tensor)] = result
        return result

    outputs = [carry(tensor) for tensor in model.outputs]
    inputs = [carry(tensor) for tensor in model.inputs]
    twin_model = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0],
                                outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for layer, twin in rebuilt:
        twin.set_weights(layer.get_weights())
    return twin_model


def copy_weights_back(trained: Any, model: Any) -> None:
    """Write the weights of `trained` (tf_keras, as made by to_tf_keras) into `model` (Keras 3) by layer name.

    Raises BridgeError when a layer of `model` has no namesake in `trained`.
    """
    by_name = {layer.name: layer for layer in trained.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in by_name:
            raise BridgeError(f"layer {layer.name!r} is missing from the trained tf_keras model")
        layer.set_weights(by_name[layer.name].get_weights())


def _twin(tf_keras: Any, layer: Any) -> Any:
    """Return a new tf_keras layer of `layer`'s class and config (initializers and dtype left at defaults)."""
    cls = getattr(tf_keras.layers, type(layer).__name__)
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable"}
    config = {key: value for key, value in layer.get_config().items()
              if key in accepted and key != "dtype" and not key.endswith("initializer")}
    return cls(**config)
