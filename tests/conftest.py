"""Shared fixtures: an isolated cache per test session, tiny real models built with TensorFlow."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", action="append", default=[],
                     help="serial or UDID of a real phone for tests marked `device`")


#: The test files that take longest, longest first (from the suite's --durations on 2026-12-07).
#: `make test` runs each file whole on one of two pytest-xdist workers, handing out files in
#: collection order: starting the long ones first leaves the many short files to even out the end,
#: so both workers finish together. test_end_to_end.py leads because its fixture trains the
#: quickstart model, which test_benchmarks.py's host_latency smoke then reuses from the shared cache
#: instead of waiting on the other worker's training; the order is a schedule, never a dependency.
LONGEST_FILES = (
    "test_end_to_end.py", "test_android_end_to_end.py", "test_torch_host.py", "test_torch_convert.py",
    "test_training_recipes.py", "test_benchmarks.py", "test_public_models.py", "test_farm.py",
    "test_stop_resume.py", "test_optimize.py", "android/test_pte_android.py", "android/test_phone_faults.py",
    "android/test_app_mode.py", "android/test_apk_runner.py", "test_ios_end_to_end.py",
)
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {TESTS / name: place for place, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # a stable sort: the other files keep their order
    if config.getoption("--device"):
        return
    skip = pytest.mark.skip(reason="needs a real phone: pass --device SERIAL_OR_UDID")
    for item in items:
        if "device" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Point benchlab's cache at a folder shared by this test session only.

    The quickstart model is trained once per session here; a developer's own cache is never
    touched, and CI starts from nothing as a new user would. Under pytest-xdist every worker uses
    the same folder (in the run's base folder, above each worker's own), so the model and its
    variants are built once for the whole run: benchlab's cache builds each entry under a file lock,
    and a second process waits and reuses it. A test that asserts what the cache holds uses
    `module_cache`, which no other worker writes to.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # base is this worker's folder: popen-gwN
        base = base.parent
    cache = base / "benchlab-cache"
    cache.mkdir(exist_ok=True)
    os.environ["BENCHLAB_CACHE_DIR"] = str(cache)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return cache


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A variant cache of the test module's own (use with `pytestmark = pytest.mark.usefixtures(...)`),
    for modules that build variants other test files expect to build first themselves."""
    shared = os.environ["BENCHLAB_CACHE_DIR"]
    own = tmp_path_factory.mktemp("module-cache")
    os.environ["BENCHLAB_CACHE_DIR"] = str(own)
    yield own
    os.environ["BENCHLAB_CACHE_DIR"] = shared


@pytest.fixture(scope="session")
def tiny_keras_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small depthwise-separable Keras model on 28x28x1 inputs, briefly trained on real digits."""
    import keras

    from benchlab.plan.datasets import mnist_splits

    keras.utils.set_random_seed(1)
    train_x, train_y, _, _ = mnist_splits()
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = keras.layers.Flatten()(x)  # a 31k-weight dense head, so weight formats dominate file size
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train_x[:1000], train_y[:1000], epochs=1, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_tflite_path(tmp_path_factory: pytest.TempPathFactory, tiny_keras_path: Path) -> Path:
    """The tiny model converted to a float32 .tflite."""
    import keras
    import tensorflow as tf

    export = tmp_path_factory.mktemp("export") / "saved"
    keras.models.load_model(tiny_keras_path).export(str(export), verbose=False)
    path = export.parent / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(export)).convert())
    return path


@pytest.fixture(scope="session")
def custom_op_tflite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real .tflite holding a custom op (Betainc) that the stock LiteRT runtime lacks."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)])
    def betainc(x):  # type: ignore[no-untyped-def]
        flat = tf.reshape(x, [1, 784])[:, :10]
        return tf.raw_ops.Betainc(a=flat + 1.0, b=flat + 1.0, x=tf.sigmoid(flat))

    converter = tf.lite.TFLiteConverter.from_concrete_functions([betainc.get_concrete_function()], betainc)
    converter.allow_custom_ops = True
    path = tmp_path_factory.mktemp("models") / "custom_op.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 held-out real MNIST digits with labels, as a user's npz dataset."""
    from benchlab.plan.datasets import mnist_splits

    train_x, _, eval_x, eval_y = mnist_splits()
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, inputs=eval_x[:200], labels=eval_y[:200], representative=train_x[:50])
    return path


@pytest.fixture(scope="session")
def cumsum_saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SavedModel whose CUMSUM op has no int16x8 kernel: that recipe must fail, the rest build."""
    import tensorflow as tf

    class CumsumClassifier(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            rng = np.random.default_rng(3)
            self.weights = tf.Variable(rng.normal(size=(784, 10)).astype(np.float32) * 0.01)

        @tf.function(input_signature=[tf.TensorSpec([1, 28, 28, 1], tf.float32)])
        def __call__(self, x):  # type: ignore[no-untyped-def]
            running = tf.math.cumsum(tf.reshape(x, [1, 784]), axis=1) / 784.0
            return tf.nn.softmax(tf.matmul(running, self.weights))

    module = CumsumClassifier()
    path = tmp_path_factory.mktemp("models") / "cumsum_savedmodel"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


@pytest.fixture(scope="session")
def conv_tflite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three same-padded 3x3 convolutions (64-192 channels) on 28x28x1: a few ms per inference, about a
    thousand times the tiny model's work, for a within-run difference no noise can hide."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(192, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(192, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    export = tmp_path_factory.mktemp("conv") / "saved"
    model.export(str(export), verbose=False)
    path = export.parent / "conv.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(export)).convert())
    return path


# --- models in the shapes production models have (examples/production_models.py) ----------------


@pytest.fixture(scope="session")
def production_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the production-shaped models, built once per session."""
    return tmp_path_factory.mktemp("production")


@pytest.fixture(scope="session")
def two_tower_keras_path(production_dir: Path) -> Path:
    """Keras: an image and a metadata vector in, class scores and a box out."""
    from examples.production_models import two_tower_keras

    return two_tower_keras(production_dir / "two_tower.keras")


@pytest.fixture(scope="session")
def two_tower_tflite_path(production_dir: Path, two_tower_keras_path: Path) -> Path:
    """The two-tower model as a float32 .tflite (signature keys image, meta; scores, box)."""
    import keras

    from examples.production_models import export_tflite

    return export_tflite(keras.models.load_model(two_tower_keras_path), production_dir / "two_tower.tflite")


@pytest.fixture(scope="session")
def token_tflite_path(production_dir: Path) -> Path:
    """int32 token ids in; intent scores and a pooled vector out."""
    from examples.production_models import token_classifier_tflite

    return token_classifier_tflite(production_dir / "token_classifier.tflite")


@pytest.fixture(scope="session")
def dynamic_tflite_path(production_dir: Path) -> Path:
    """An image of any height and width in; a per-pixel mask and a score out."""
    from examples.production_models import dynamic_hw_tflite

    return dynamic_hw_tflite(production_dir / "dynamic_hw.tflite")


@pytest.fixture(scope="session")
def int8_io_tflite_path(production_dir: Path) -> Path:
    """Full-int8 with int8 input and output tensors."""
    from examples.production_models import quantized_io_tflite

    return quantized_io_tflite(production_dir / "int8_io.tflite")


@pytest.fixture()
def android_loopback_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What android_runner needs to reach loopback phones: its own adb key and config in this test's
    folder (the default 30 s auth wait: these phones accept the key, and a busy machine may take
    seconds to answer), and a placeholder runner binary (the phone runs its stand-in)."""
    monkeypatch.setenv("BENCHLAB_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("BENCHLAB_ADB_KEY", str(tmp_path / "no-sdk-key"))
    runner = tmp_path / "benchmark_model"
    runner.write_bytes(b"\x7fELF placeholder: the loopback phone runs its benchmark_model stand-in\n")
    monkeypatch.setenv("BENCHLAB_ANDROID_BENCHMARK_MODEL", str(runner))


@pytest.fixture(scope="session")
def fp16_weights_tflite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small 16x16x3 classifier whose weights are float16 behind DEQUANTIZE ops (as published)."""
    from examples.production_models import fp16_weights_tflite

    return fp16_weights_tflite(tmp_path_factory.mktemp("models") / "fp16_weights.tflite")


@pytest.fixture(scope="session")
def signatureless_tflite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small 16x16x3 classifier with no signature in its flatbuffer."""
    from examples.production_models import signatureless_tflite

    return signatureless_tflite(tmp_path_factory.mktemp("models") / "signatureless.tflite")


@pytest.fixture(scope="session")
def small_images_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 seeded 16x16x3 images with labels 0..4 and 16 representative ones, for the small classifiers."""
    rng = np.random.default_rng(11)
    path = tmp_path_factory.mktemp("data") / "small_images.npz"
    np.savez(path, inputs=rng.random((24, 16, 16, 3), dtype=np.float32), labels=rng.integers(0, 5, 24),
             representative=rng.random((16, 16, 16, 3), dtype=np.float32))
    return path
