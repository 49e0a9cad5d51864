"""Shared helpers for the iPhone runner tests: where recorded device outputs live, and fake iPhones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import ios_runner.jobs
from tests.ios.fake_phone import FakeClock, FakePhone, FakeServices

#: /work/main/tests/ios/conftest.py → parents[3] is the folder holding the clone and shared/.
FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
IOS_FIXTURES = FIXTURES / "ios"
DATA = Path(__file__).resolve().parent / "data"
APP = Path(__file__).resolve().parents[2] / "ios_runner" / "app"


@pytest.fixture
def ios_fixture() -> Callable[[str], str]:
    """Return a reader of ``shared/fixtures/ios/<name>``; it skips the test when the file is missing."""

    def read(name: str) -> str:
        path = IOS_FIXTURES / name
        if not path.is_file():
            pytest.skip(
                f"recorded iPhone output {path} not found; check out shared/ beside the repository"
            )
        return path.read_text(encoding="utf-8")

    return read


# --- a fake iPhone (tests/ios/fake_phone.py) -----------------------------------------------------


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll the fake app's folders often (the host's wait for a result is then quick)."""
    monkeypatch.setattr(ios_runner.jobs, "POLL_SECONDS", 0.05)


@pytest.fixture
def phone_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The fake phones' clock, by which the host also ages their heartbeats: staleness is the fake's to
    say (an app that iOS ended), never the outcome of how busy this machine is."""
    clock = FakeClock()
    monkeypatch.setattr(ios_runner.jobs, "WALL_CLOCK", clock)
    return clock


@pytest.fixture
def make_phone(tmp_path: Path, fast_polling: None,
               phone_clock: FakeClock) -> Iterator[Callable[..., tuple[FakePhone, FakeServices]]]:
    """Return a maker of one fake iPhone (FakePhone keyword arguments) and its FakeServices; apps stop at the end."""
    made: list[FakeServices] = []

    def make(udid: str = "00008120-001A2B3C4D5E6F70", **options: object) -> tuple[FakePhone, FakeServices]:
        options.setdefault("clock", phone_clock)
        phone = FakePhone(udid=udid, documents=tmp_path / f"phone-{udid}" / "Documents", **options)  # type: ignore[arg-type]
        services = FakeServices([phone])
        made.append(services)
        return phone, services

    yield make
    for services in made:
        services.stop_all()


# --- small real models with several outputs ---------------------------------------------------------


@pytest.fixture(scope="session")
def heads_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real .tflite with two outputs: softmax probabilities [1, 3], then a scalar score []."""
    import tensorflow as tf

    class Heads(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="features")])
        def __call__(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"probs": tf.nn.softmax(x[:, :3] * 2.0), "score": tf.reduce_sum(x * x)}

    heads = Heads()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([heads.__call__.get_concrete_function()], heads)
    path = tmp_path_factory.mktemp("heads") / "heads.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.fixture(scope="session")
def heads_mlpackage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An .mlpackage declaring input "features" [1, 4] and outputs "zprobs" [1, 3] then "ascore" [],
    written by coremltools' own package writer; declared first, "zprobs" sorts last by name."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2, Model_pb2

    spec = Model_pb2.Model(specificationVersion=7)
    for features, name, shape in ((spec.description.input, "features", [1, 4]),
                                  (spec.description.output, "zprobs", [1, 3]),
                                  (spec.description.output, "ascore", [])):
        feature = features.add(name=name)
        feature.type.multiArrayType.shape.extend(shape)
        feature.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    path = tmp_path_factory.mktemp("heads") / "heads.mlpackage"
    ct.utils.save_spec(spec, str(path))
    return path
