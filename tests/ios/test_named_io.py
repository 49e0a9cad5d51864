"""Every input and output of a model on an iPhone, by name (issue 15), through the loopback phone.

The phone is tests/ios/fake_phone.py: its app runs the .tflite for real with LiteRT and follows
the job/result protocol of ios_runner/protocol.py (tensor files with a dtype) as the Swift app
does. The reference is LiteRT on this machine through the model's *signature* (names, not
positions), so an input fed to the wrong tensor or an output filed under the wrong name shows.
Models are the production-shaped ones of examples/production_models.py (fixtures in tests/conftest.py);
the Core ML case declares INT32 ids in an .mlpackage whose predictions come from the same .tflite.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from benchlab.records import Measurement
from benchlab.tensors import Feeds, ModelIO, TensorInfo, describe_interpreter, save_feeds, to_tensor
from ios_runner.model_io import DataMismatch, app_inputs, model_outputs
from ios_runner.protocol import RunnerJob, TensorFile, job_json, read_tensor_file
from tests.ios.fake_phone import FakePhone, FakeServices
from tests.ios.test_ios_device import CPU, CPU_ONLY, device_for, make_job
from examples.production_models import SEQUENCE, TWO_TOWER_INPUTS, VOCAB
from tests.helpers.litert_reference import litert_outputs

MakePhone = Callable[..., tuple[FakePhone, FakeServices]]



def run_on_phone(make_phone: MakePhone, model: Path, feeds: Feeds | None, tmp_path: Path
                 ) -> tuple[Measurement, FakePhone]:
    """Run ``model`` on a fresh loopback iPhone (cpu, 2 threads) with ``feeds`` as its evaluation inputs."""
    inputs = None
    if feeds is not None:
        inputs = tmp_path / f"{model.stem}.npz"
        save_feeds(inputs, feeds)
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([model])
    return device.run(make_job(model, "tflite", CPU, inputs)), phone


def run_repeats(make_phone: MakePhone, model: Path, feeds: Feeds, tmp_path: Path, repeats: int
                ) -> tuple[list[Measurement], FakePhone, FakeServices]:
    """Run ``repeats`` repeats of one job on one loopback iPhone as the executor does: each a job of
    its own, the first evaluating ``feeds``, the others only timed."""
    inputs = tmp_path / f"{model.stem}.npz"
    save_feeds(inputs, feeds)
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([model])
    first = make_job(model, "tflite", CPU, inputs)
    return [device.run(replace(first, repeat=k, evaluate=k == 0)) for k in range(repeats)], phone, services


def describe_interpreter_of(model: Path) -> ModelIO:
    """The model's inputs and outputs as benchlab.tensors reads them."""
    from ai_edge_litert.interpreter import Interpreter

    return describe_interpreter(Interpreter(model_path=str(model)))


def app_result(m: Measurement) -> dict:
    """The app's own result of the measurement's first repeat."""
    return json.loads(m.runner_output.splitlines()[0])


# --- production-shaped models on the loopback iPhone ---------------------------------------------------


def test_two_inputs_and_two_outputs_come_back_by_name_equal_to_host_litert(
        make_phone: MakePhone, two_tower_tflite_path: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    # The data's order (image, meta) is not the model's (meta, image): inputs go by name.
    feeds = {name: rng.random((6, *shape), dtype=np.float32) for name, shape in TWO_TOWER_INPUTS.items()}
    m, phone = run_on_phone(make_phone, two_tower_tflite_path, feeds, tmp_path)
    assert m.status == "ok", m.error
    assert list(m.outputs) == ["scores", "box"]  # the signature's names, in the model's order
    expected = litert_outputs(two_tower_tflite_path, feeds)
    assert m.outputs["scores"].shape == (6, 5) and m.outputs["box"].shape == (6, 4)
    for name in ("scores", "box"):
        np.testing.assert_allclose(m.outputs[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
    # Each tensor file went under the tensor's own name, float32, so the job stays version 1.
    (job,) = phone.app.jobs_seen
    assert job.schema_version == 1
    assert [(t.name, t.dtype, t.shape) for t in job.inputs] == [("serving_default_meta:0", "float32", (1, 8)),
                                                                ("serving_default_image:0", "float32", (1, 16, 16, 3))]
    # The app names outputs by tensor: scores is StatefulPartitionedCall_1:1, not output 0.
    assert [o["name"] for o in app_result(m)["outputs"]] == ["StatefulPartitionedCall_1:1",
                                                             "StatefulPartitionedCall_1:0"]


def test_int32_token_ids_reach_the_model_unchanged(
        make_phone: MakePhone, token_tflite_path: Path, tmp_path: Path) -> None:
    ids = np.random.default_rng(12).integers(0, VOCAB, (5, SEQUENCE)).astype(np.int64)  # int64 data, int32 input
    ids[0, :] = VOCAB - 1  # the largest id: any rounding or quantizing would move it
    m, phone = run_on_phone(make_phone, token_tflite_path, {"ids": ids}, tmp_path)
    assert m.status == "ok", m.error
    (job,) = phone.app.jobs_seen
    assert job.schema_version == 2 and [(t.name, t.dtype) for t in job.inputs] == [("serving_default_ids:0", "int32")]
    sent = read_tensor_file(phone.documents / job.inputs[0].file, job.inputs[0])
    assert sent.dtype == np.int32 and np.array_equal(sent.reshape(5, SEQUENCE), ids)
    expected = litert_outputs(token_tflite_path, {"ids": ids.astype(np.int32)})
    assert list(m.outputs) == ["intent", "pooled"]
    for name in ("intent", "pooled"):
        np.testing.assert_allclose(m.outputs[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
    assert np.allclose(m.outputs["intent"].sum(axis=1), 1.0, atol=1e-5)


def test_int8_inputs_are_quantized_on_the_host_and_int8_outputs_dequantized(
        make_phone: MakePhone, int8_io_tflite_path: Path, tmp_path: Path) -> None:
    image = np.random.default_rng(13).random((4, 16, 16, 3), dtype=np.float32)
    m, phone = run_on_phone(make_phone, int8_io_tflite_path, {"image": image}, tmp_path)
    assert m.status == "ok", m.error
    (job,) = phone.app.jobs_seen
    assert job.schema_version == 2 and job.inputs[0].dtype == "int8"
    info = describe_interpreter_of(int8_io_tflite_path).inputs[0]
    sent = read_tensor_file(phone.documents / job.inputs[0].file, job.inputs[0])
    assert np.array_equal(sent.reshape(image.shape), to_tensor(image, info))
    (output,) = app_result(m)["outputs"]
    assert output["dtype"] == "int8"  # the app sends the tensor's own values
    scores = m.outputs["output_0"]
    assert scores.dtype == np.float32 and scores.shape == (4, 5)
    np.testing.assert_array_equal(scores, litert_outputs(int8_io_tflite_path, {"image": image})["output_0"])
    assert np.allclose(scores.sum(axis=1), 1.0, atol=0.05)  # dequantized softmax, not int8 levels


def test_a_dynamic_height_and_width_is_resized_to_the_data(
        make_phone: MakePhone, dynamic_tflite_path: Path, tmp_path: Path) -> None:
    image = np.random.default_rng(14).random((3, 10, 14, 3), dtype=np.float32)
    m, phone = run_on_phone(make_phone, dynamic_tflite_path, {"image": image}, tmp_path)
    assert m.status == "ok", m.error
    assert phone.app.jobs_seen[0].inputs[0].shape == (1, 10, 14, 3)
    expected = litert_outputs(dynamic_tflite_path, {"image": image})
    assert m.outputs["mask"].shape == (3, 10, 14, 1) and m.outputs["score"].shape == (3, 1)
    for name in ("mask", "score"):
        np.testing.assert_allclose(m.outputs[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)


def test_an_old_single_array_npy_feeds_a_single_input_by_position(
        make_phone: MakePhone, int8_io_tflite_path: Path, tmp_path: Path) -> None:
    image = np.random.default_rng(15).random((2, 16, 16, 3), dtype=np.float32)
    old = tmp_path / "old_run.npy"
    np.save(old, image)
    phone, services = make_phone()
    device = device_for(phone, services)
    device.prepare([int8_io_tflite_path])
    m = device.run(make_job(int8_io_tflite_path, "tflite", CPU, old))
    assert m.status == "ok", m.error
    expected = litert_outputs(int8_io_tflite_path, {"image": image})
    np.testing.assert_array_equal(m.outputs["output_0"], expected["output_0"])


def test_a_job_without_inputs_feeds_zeros_to_ids_and_keeps_no_outputs(
        make_phone: MakePhone, token_tflite_path: Path, tmp_path: Path) -> None:
    m, phone = run_on_phone(make_phone, token_tflite_path, None, tmp_path)
    assert m.status == "ok", m.error
    assert m.outputs is None and phone.app.jobs_seen[0].inputs == ()


# --- timed repeats that do not evaluate time the real first sample ---------------------------------------


def test_every_repeat_times_the_first_token_ids_and_only_the_first_evaluates(
        make_phone: MakePhone, token_tflite_path: Path, tmp_path: Path) -> None:
    ids = np.random.default_rng(17).integers(0, VOCAB, (5, SEQUENCE)).astype(np.int32)
    (first, second, third), phone, services = run_repeats(make_phone, token_tflite_path, {"ids": ids}, tmp_path, 3)
    for m in (first, second, third):
        assert m.status == "ok", m.error
        assert len(m.samples_us) == 1 and len(m.samples_us[0]) == 4
    assert first.outputs is not None and second.outputs is None and third.outputs is None
    evaluated, *timed = phone.app.jobs_seen
    assert [(t.name, t.samples, t.shape) for t in evaluated.inputs] == [("serving_default_ids:0", 5, (1, SEQUENCE))]
    for job in timed:  # sample 0 alone, as the app's timed runs feed it
        (tensor,) = job.inputs
        assert (tensor.name, tensor.dtype, tensor.samples, tensor.shape) == ("serving_default_ids:0", "int32", 1,
                                                                             (1, SEQUENCE))
        assert np.array_equal(read_tensor_file(phone.documents / tensor.file, tensor).reshape(1, SEQUENCE), ids[:1])
    assert timed[0].inputs == timed[1].inputs
    # The model once, all samples once, sample 0 once: the second timed repeat pushed nothing.
    assert services.counters["files_pushed"] == 3
    # The app's untimed run of the one sample left nothing behind.
    assert sorted(p.name for p in (phone.documents / "outbox").iterdir()) == []


def test_a_timed_repeat_of_a_dynamic_model_runs_at_the_datas_height_and_width(
        make_phone: MakePhone, dynamic_tflite_path: Path, tmp_path: Path) -> None:
    image = np.random.default_rng(18).random((3, 10, 14, 3), dtype=np.float32)
    (_, timed), phone, _ = run_repeats(make_phone, dynamic_tflite_path, {"image": image}, tmp_path, 2)
    assert timed.status == "ok", timed.error
    (tensor,) = phone.app.jobs_seen[1].inputs
    assert (tensor.samples, tensor.shape) == (1, (1, 10, 14, 3))
    # The app resized the input before timing: its mask output has the data's height and width.
    outputs = app_result(timed)["outputs"]
    assert sorted(o["shape"] for o in outputs) == [[1, 1], [1, 10, 14, 1]] and {o["samples"] for o in outputs} == {1}


# --- data that does not fit: the job fails naming the input, expected and got ---------------------------


@pytest.mark.parametrize(("feeds", "message"), [
    ({"image": np.zeros((2, 16, 16, 3), np.float32), "meta": np.zeros((2, 9), np.float32)},
     "input 'meta' expects float32 (8,), the data is float32 (9,)"),
    ({"image": np.zeros((2, 16, 16, 3), np.float32), "meta": np.zeros((3, 8), np.float32)},
     "every input needs the same number of samples, at least one; the data has meta 3, image 2"),
    ({"pixels": np.zeros((2, 16, 16, 3), np.float32)},
     "the model has 2 tensor(s) (meta, image), the data 1 (pixels)"),
])
def test_data_that_does_not_fit_fails_the_job_naming_the_input(
        make_phone: MakePhone, two_tower_tflite_path: Path, tmp_path: Path, feeds: Feeds, message: str) -> None:
    m, phone = run_on_phone(make_phone, two_tower_tflite_path, feeds, tmp_path)
    assert m.status == "failed" and m.outputs is None
    assert m.error is not None and f"model tiny, variant two_tower: {message}" in m.error
    assert phone.app.jobs_seen == [], "nothing reached the app"


def test_real_values_for_token_ids_fail_instead_of_being_truncated(
        make_phone: MakePhone, token_tflite_path: Path, tmp_path: Path) -> None:
    m, _ = run_on_phone(make_phone, token_tflite_path,
                        {"ids": np.full((2, SEQUENCE), 3.7, np.float32)}, tmp_path)
    assert m.status == "failed"
    assert ("input 'ids' expects int32 (12,), the data is float32 (12,) "
            "(real values for an integer or boolean input)") in (m.error or "")


# --- the host's half of the contract, without a phone ------------------------------------------------------


def test_ids_beyond_int32_are_refused_not_wrapped() -> None:
    ids = TensorInfo(name="ids", tensor_name="serving_default_ids:0", dtype="int32", shape=(-1, 2))
    with pytest.raises(DataMismatch, match=r"input 'ids' expects int32 \(2,\).*\(values outside int32\)"):
        app_inputs({"ids": np.array([[1, 2**40]], np.int64)}, ModelIO(inputs=(ids,), outputs=()), "tflite", "m")


def test_core_ml_takes_ids_as_int32_and_the_rest_as_float32() -> None:
    ids = TensorInfo(name="ids", tensor_name="ids", dtype="int32", shape=(1, 3))
    image = TensorInfo(name="image", tensor_name="image", dtype="float16", shape=(-1, -1, -1, -1))
    io = ModelIO(inputs=(ids, image), outputs=())
    sent = app_inputs({"ids": np.ones((2, 3), np.int64), "image": np.ones((2, 1, 4, 4), np.float64)}, io,
                      "mlpackage", "m")
    assert [(name, values.dtype.name, values.shape) for name, values in sent] == [("ids", "int32", (2, 3)),
                                                                                 ("image", "float32", (2, 1, 4, 4))]


def test_outputs_of_a_version_1_app_are_already_float32_and_kept_as_they_are() -> None:
    """Apps of protocol version 1 dequantized int8 outputs themselves: the host must not do it again."""
    scores = TensorInfo(name="scores", tensor_name="Identity", dtype="int8", shape=(1, 2), scale=0.5, zero_point=-128)
    io = ModelIO(inputs=(), outputs=(scores,))
    dequantized = np.array([[0.25, 0.75]], np.float32)
    assert model_outputs({"Identity": dequantized}, io, "m")["scores"] is dequantized
    raw = np.array([[-128, 127]], np.int8)
    np.testing.assert_array_equal(model_outputs({"Identity": raw}, io, "m")["scores"], [[0.0, 127.5]])
    with pytest.raises(DataMismatch, match=r"returned outputs \['Other'\], without the model's \['Identity'\]"):
        model_outputs({"Other": raw}, io, "m")


def test_jobs_say_version_2_only_when_an_input_is_not_float32() -> None:
    def job(dtype: str, **fields: object) -> RunnerJob:
        tensor = {"name": "ids", "file": "inputs/a.int32", "shape": [1, 4], "samples": 2, "dtype": dtype}
        return RunnerJob(job_id="j1", model="models/m.tflite", format="tflite", delegate="cpu", inputs=[tensor],
                         **fields)

    assert job("float32").schema_version == 1  # an app of version 1 still runs it
    assert job("int32").schema_version == 2
    assert json.loads(job_json(job("int32")))["inputs"][0]["dtype"] == "int32"
    with pytest.raises(ValueError, match=r"inputs ids \(int32\) need schema_version 2"):
        job("int32", schema_version=1)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int32", "int64", "bool", "float16"])
def test_tensor_files_of_every_type_round_trip(tmp_path: Path, dtype: str) -> None:
    """Raw little-endian bytes, as the app writes them, read back in their dtype and shape."""
    values = (np.arange(24) % 2 if dtype == "bool" else np.arange(24) - (0 if dtype == "uint8" else 12)).astype(dtype)
    (tmp_path / "t.bin").write_bytes(values.astype(np.dtype(dtype).newbyteorder("<")).tobytes())
    record = TensorFile(name="x", file=str(tmp_path / "t.bin"), shape=(2, 4), samples=3, dtype=dtype)
    assert (tmp_path / "t.bin").stat().st_size == record.byte_size == 24 * np.dtype(dtype).itemsize
    back = read_tensor_file(tmp_path / "t.bin", record)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, values.reshape(3, 2, 4))


def test_core_ml_token_ids_go_as_int32_files(
        make_phone: MakePhone, token_tflite_path: Path, tmp_path: Path) -> None:
    """An .mlpackage declaring INT32 ids; the loopback phone's Core ML stand-in predicts with the same
    model's .tflite (outputs paired in declared order) and writes float32 outputs sorted by name."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2, Model_pb2

    spec = Model_pb2.Model(specificationVersion=7)
    for features, name, shape, dtype in (
            (spec.description.input, "ids", [1, SEQUENCE], FeatureTypes_pb2.ArrayFeatureType.INT32),
            (spec.description.output, "intent", [1, 3], FeatureTypes_pb2.ArrayFeatureType.FLOAT32),
            (spec.description.output, "pooled", [1, 8], FeatureTypes_pb2.ArrayFeatureType.FLOAT32)):
        feature = features.add(name=name)
        feature.type.multiArrayType.shape.extend(shape)
        feature.type.multiArrayType.dataType = dtype
    package = tmp_path / "tokens.mlpackage"
    ct.utils.save_spec(spec, str(package))
    ids = np.random.default_rng(16).integers(0, VOCAB, (4, SEQUENCE))  # int64 data
    inputs = tmp_path / "tokens.npz"
    save_feeds(inputs, {"ids": ids})
    phone, services = make_phone(coreml_reference=token_tflite_path)
    device = device_for(phone, services)
    device.prepare([package])
    m = device.run(make_job(package, "mlpackage", CPU_ONLY, inputs))
    assert m.status == "ok", m.error
    (job,) = phone.app.jobs_seen
    assert [(t.name, t.dtype) for t in job.inputs] == [("ids", "int32")] and job.schema_version == 2
    assert {o["dtype"] for o in app_result(m)["outputs"]} == {"float32"}
    expected = litert_outputs(token_tflite_path, {"ids": ids.astype(np.int32)})
    assert list(m.outputs) == ["intent", "pooled"]
    for name in ("intent", "pooled"):
        np.testing.assert_allclose(m.outputs[name], expected[name], rtol=1e-6, atol=1e-6, err_msg=name)
