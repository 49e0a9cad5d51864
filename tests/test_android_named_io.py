"""Every input and output of a model on an Android phone, through the loopback phone: android_runner's
real evaluation (named .npz inputs, one value file per input, --input_layer naming the real tensors,
--output_filepath split per output) and its timed runs (sample 0 of every input, fed the same way)
against the stand-in benchmark_model, which runs real LiteRT inference for the flags it gets and
fails on bad ones as the real tool does.

Models in production shapes (examples/production_models.py): two inputs and two outputs, int32 token
ids, dynamic height and width with a mask output, int8 quantized input and output. Every output is
compared with what this machine's LiteRT gives for the same inputs, through the model's signature.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from android_runner import commands
from android_runner.device import EVAL_PER_SAMPLE, AndroidDevice
from android_runner.transport import DirectTransport
from tests.helpers.litert_reference import litert_outputs
from benchlab.records import AcceleratorSetting, Job, Measurement, Scenario, Variant
from benchlab.tensors import Feeds, describe_tflite, save_feeds, to_tensor
from examples import production_models
from android_runner.loopback import FLAGSHIP, LoopbackAdbDevice
from android_runner.loopback.fake_benchmark_model import split_value_file_item

CPU = AcceleratorSetting(name="cpu-t1", kind="cpu", threads=1)
GPU = AcceleratorSetting(name="gpu", kind="gpu")
QUICK = Scenario(warmup=1, iterations=3, min_seconds=0, max_seconds=10, repeats=1, timeout_seconds=60)
SAMPLES = 6


@pytest.fixture()
def phone(tmp_path: Path, android_loopback_env: None) -> Iterator[LoopbackAdbDevice]:
    with LoopbackAdbDevice(FLAGSHIP, tmp_path / "phone", accept_new_keys=True) as device:
        yield device


def make_job(model: Path, feeds: Feeds | None, tmp_path: Path, accelerator: AcceleratorSetting) -> Job:
    """The first repeat of a job (it evaluates) whose evaluation inputs are `feeds`, saved as the
    planning stage saves them; None: a job without evaluation inputs."""
    inputs = None
    if feeds is not None:
        inputs = tmp_path / f"{model.stem}.npz"
        save_feeds(inputs, feeds)
    variant = Variant(model=model.stem, name="fp32", recipe="tflite", format="tflite", status="ok", path=str(model))
    return Job(job_id=f"{model.stem}.fp32.phone.{accelerator.name}", run_id="run", suite="named-io", variant=variant,
               device_id="phone", accelerator=accelerator, scenario=QUICK,
               eval_inputs_path=str(inputs) if inputs else None, evaluate=inputs is not None)


def run_repeats(phone: LoopbackAdbDevice, model: Path, feeds: Feeds | None, tmp_path: Path, repeats: int = 1,
                accelerator: AcceleratorSetting = CPU) -> list[Measurement]:
    """Run `repeats` repeats of one job on one device, as the executor does: each a job of its own,
    the first evaluating `feeds`, the others only timed."""
    device = AndroidDevice(DirectTransport(phone.serial, connect_timeout_s=5), "tcp")
    first = make_job(model, feeds, tmp_path, accelerator)
    try:
        device.prepare([model])
        return [device.run(replace(first, repeat=k, evaluate=first.evaluate and k == 0)) for k in range(repeats)]
    finally:
        device.close()


def evaluate(phone: LoopbackAdbDevice, model: Path, feeds: Feeds, tmp_path: Path,
             accelerator: AcceleratorSetting = CPU) -> Measurement:
    """Run the first repeat of a job with `feeds` as its evaluation inputs on the phone."""
    (measurement,) = run_repeats(phone, model, feeds, tmp_path, accelerator=accelerator)
    return measurement


def evaluate_only(phone: LoopbackAdbDevice, model: Path, feeds: Feeds, tmp_path: Path) -> Measurement:
    """Run only the evaluation of a job on the phone (no timed repeats before it)."""
    device = AndroidDevice(DirectTransport(phone.serial, connect_timeout_s=5), "tcp")
    job = make_job(model, feeds, tmp_path, CPU)
    try:
        device.prepare([model])
        base = Measurement(job_id=job.job_id, run_id=job.run_id, suite=job.suite, variant=job.variant,
                           device=device.info, accelerator=CPU, status="ok", runner="benchmark_model")
        return device._evaluate(job, base, f"{commands.DEVICE_DIR}/benchmark_model", device._model_remote(model))
    finally:
        device.close()



def eval_commands(phone: LoopbackAdbDevice) -> list[str]:
    """The evaluation runs the phone was asked to start (each writes --output_filepath)."""
    return [command for command in phone.commands if "--output_filepath" in command]


def timed_commands(phone: LoopbackAdbDevice) -> list[str]:
    """The timed runs the phone was asked to start (each reports its peak memory)."""
    return [command for command in phone.commands if "--report_peak_memory_footprint=true" in command]


def sample_pushes(phone: LoopbackAdbDevice) -> list[str]:
    """The input sample files pushed to the phone (each push is renamed into place by `mv`)."""
    return [command for command in phone.commands if command.startswith("mv -f") and "/sample-" in command]


def fed_samples(phone: LoopbackAdbDevice, command: str) -> dict[str, bytes]:
    """What a run command feeds, by tensor name: the bytes of each --input_layer_value_files file."""
    items = flag(command, "input_layer_value_files").split(",")
    return {name: phone.host_path(path).read_bytes() for name, path in map(split_value_file_item, items)}


def flag(command: str, name: str) -> str:
    """The value of one flag of a runner command line (as the phone's shell splits it)."""
    args = shlex.split(command.split(">run.log")[0].split("&& {")[-1])
    return next(arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}="))


def assert_same_outputs(measured: Feeds, expected: Feeds) -> None:
    assert set(measured) == set(expected)
    for name, values in expected.items():
        assert measured[name].shape == values.shape, name
        np.testing.assert_allclose(measured[name], values, rtol=1e-5, atol=1e-6, err_msg=name)


# --- every input and output comes back -------------------------------------------------------------


def test_two_inputs_by_tensor_name_and_two_outputs_split_by_size(phone, two_tower_tflite_path, tmp_path) -> None:
    rng = np.random.default_rng(0)
    # The data's own order (image, meta) is not the model's (meta, image): inputs go by name.
    feeds = {name: rng.random((SAMPLES, *shape), dtype=np.float32)
             for name, shape in production_models.TWO_TOWER_INPUTS.items()}
    m = evaluate(phone, two_tower_tflite_path, feeds, tmp_path)
    assert m.status == "ok" and not m.flags and m.accuracy_note is None
    assert m.outputs["scores"].shape == (SAMPLES, 5) and m.outputs["box"].shape == (SAMPLES, 4)
    assert_same_outputs(m.outputs, litert_outputs(two_tower_tflite_path, feeds))
    runs = eval_commands(phone)
    assert len(runs) == 3  # one batch of all samples, then samples 0 and 5 alone to check it
    tensors = [info.tensor_name for info in describe_tflite(two_tower_tflite_path).inputs]
    assert tensors == ["serving_default_meta:0", "serving_default_image:0"]
    assert flag(runs[0], "input_layer") == "serving_default_meta:0,serving_default_image:0"
    assert flag(runs[0], "input_layer_shape") == f"{SAMPLES},8:{SAMPLES},16,16,3"
    assert flag(runs[1], "input_layer_shape") == "1,8:1,16,16,3"
    assert flag(runs[0], "input_layer_value_files") == \
        "serving_default_meta::0:in-0.bin,serving_default_image::0:in-1.bin"


def test_a_delegate_refusing_the_batch_of_a_two_input_model_runs_each_sample_alone(
        phone, two_tower_tflite_path, tmp_path) -> None:
    rng = np.random.default_rng(1)
    feeds = {name: rng.random((3, *shape), dtype=np.float32)
             for name, shape in production_models.TWO_TOWER_INPUTS.items()}
    m = evaluate(phone, two_tower_tflite_path, feeds, tmp_path, accelerator=GPU)  # gpu_max_batch=1
    assert m.status == "ok" and EVAL_PER_SAMPLE in m.flags
    assert m.accuracy_note.startswith("evaluated one sample per process: batch of 3 refused")
    assert_same_outputs(m.outputs, litert_outputs(two_tower_tflite_path, feeds))
    assert len(eval_commands(phone)) == 1 + 3


def test_int32_token_ids_pass_as_they_are(phone, token_tflite_path, tmp_path) -> None:
    ids = np.random.default_rng(2).integers(0, production_models.VOCAB, (SAMPLES, production_models.SEQUENCE))
    feeds = {"ids": ids.astype(np.int32)}
    m = evaluate_only(phone, token_tflite_path, feeds, tmp_path)
    assert m.status == "ok" and m.accuracy_note is None
    assert_same_outputs(m.outputs, litert_outputs(token_tflite_path, feeds))
    # The ids reached the phone as int32, untouched (4 bytes per id).
    assert f"bs={4 * production_models.SEQUENCE} " in eval_commands(phone)[0]


def test_dynamic_height_and_width_take_the_datas_size_and_the_mask_comes_back(
        phone, dynamic_tflite_path, tmp_path) -> None:
    feeds = {"image": np.random.default_rng(3).random((SAMPLES, 10, 14, 3), dtype=np.float32)}
    m = evaluate(phone, dynamic_tflite_path, feeds, tmp_path)
    assert m.status == "ok" and m.accuracy_note is None
    assert m.outputs["mask"].shape == (SAMPLES, 10, 14, 1) and m.outputs["score"].shape == (SAMPLES, 1)
    assert_same_outputs(m.outputs, litert_outputs(dynamic_tflite_path, feeds))
    assert flag(eval_commands(phone)[0], "input_layer_shape") == f"{SAMPLES},10,14,3"


def test_int8_input_is_quantized_and_int8_output_comes_back_as_numbers(
        phone, int8_io_tflite_path, tmp_path) -> None:
    io = describe_tflite(int8_io_tflite_path)
    assert io.inputs[0].dtype == "int8" and io.outputs[0].dtype == "int8"
    feeds = {"image": np.random.default_rng(4).random((SAMPLES, 16, 16, 3), dtype=np.float32)}
    m = evaluate(phone, int8_io_tflite_path, feeds, tmp_path)
    assert m.status == "ok" and m.accuracy_note is None
    (output,) = io.outputs
    assert m.outputs[output.name].dtype == np.float32
    assert_same_outputs(m.outputs, litert_outputs(int8_io_tflite_path, feeds))
    # Softmax scores on the output's grid (scale 1/256): real numbers, not raw int8 codes.
    assert 0.0 <= m.outputs[output.name].min() and m.outputs[output.name].max() <= 1.0
    assert f"bs={16 * 16 * 3} " in eval_commands(phone)[0]  # one byte per int8 value


def test_data_that_does_not_fit_an_input_fails_the_job_naming_it(phone, two_tower_tflite_path, tmp_path) -> None:
    feeds = {"image": np.zeros((2, 8, 8, 3), np.float32), "meta": np.zeros((2, 8), np.float32)}
    m = evaluate(phone, two_tower_tflite_path, feeds, tmp_path)
    assert m.status == "failed" and not m.runner_stats
    assert m.error.endswith("evaluation data does not fit input image: expected image float32 (16, 16, 3), "
                            "got float32 (8, 8, 3)")
    # Nothing ran with data that does not fit: the timed runs feed it too.
    assert eval_commands(phone) == [] and timed_commands(phone) == [] and sample_pushes(phone) == []


# --- the timed runs feed the first sample of every input --------------------------------------------


def test_a_full_job_of_the_token_classifier_times_its_real_first_ids(phone, token_tflite_path, tmp_path) -> None:
    """benchmark_model's own random int32 values run 0..99, and this model's 50-word embedding fails
    on any id above 49 ("gather index out of bounds"): timed on sample 0, the job measures."""
    ids = np.random.default_rng(5).integers(0, production_models.VOCAB, (SAMPLES, production_models.SEQUENCE))
    first, second = run_repeats(phone, token_tflite_path, {"ids": ids.astype(np.int32)}, tmp_path, repeats=2)
    for m in (first, second):
        assert m.status == "ok", m.error
        (stats,) = m.runner_stats  # the tool's stat line of its measured runs
        assert stats["count"] >= QUICK.iterations and stats["median_us"] > 0
    assert first.op_profile and first.op_profile_note is None  # the op profile fed the same ids
    assert_same_outputs(first.outputs, litert_outputs(token_tflite_path, {"ids": ids.astype(np.int32)}))
    assert second.outputs is None  # only the first repeat evaluates
    timed = timed_commands(phone)
    assert len(timed) == 2
    for command in timed:
        assert flag(command, "input_layer") == "serving_default_ids:0"
        assert flag(command, "input_layer_shape") == f"1,{production_models.SEQUENCE}"
        assert fed_samples(phone, command) == {"serving_default_ids:0": ids[:1].astype(np.int32).tobytes()}
    assert len(sample_pushes(phone)) == 1  # pushed once, for both repeats and the op profile


def test_a_sample_already_on_the_phone_is_not_pushed_again_for_another_variant_or_run(
        phone, token_tflite_path, tmp_path) -> None:
    ids = np.random.default_rng(10).integers(0, production_models.VOCAB, (2, production_models.SEQUENCE))
    feeds = {"ids": ids.astype(np.int32)}
    other = tmp_path / "other" / "tokens_fp16.tflite"  # another variant whose input takes the same bytes
    other.parent.mkdir()
    other.write_bytes(token_tflite_path.read_bytes())
    assert run_repeats(phone, token_tflite_path, feeds, tmp_path)[0].status == "ok"
    assert run_repeats(phone, other, feeds, tmp_path)[0].status == "ok"  # a new session finds it by sha256
    assert len(sample_pushes(phone)) == 1
    first, second = (flag(command, "input_layer_value_files") for command in timed_commands(phone))
    assert first == second  # both variants feed the one file, named by its content


def test_a_dynamic_model_is_timed_on_the_datas_height_and_width(phone, dynamic_tflite_path, tmp_path) -> None:
    image = np.random.default_rng(6).random((SAMPLES, 10, 14, 3), dtype=np.float32)
    (m,) = run_repeats(phone, dynamic_tflite_path, {"image": image}, tmp_path)
    assert m.status == "ok", m.error
    (command,) = timed_commands(phone)
    assert flag(command, "input_layer_shape") == "1,10,14,3"
    assert fed_samples(phone, command) == {"serving_default_image:0": image[:1].tobytes()}
    # The tool took the shape and resized the input: it reads a value file only when the file is
    # exactly the resized tensor's size (1x10x14x3 float32), and aborts otherwise.
    assert "INFO: Input shapes: [1,10,14,3]" in m.runner_output and "FATAL" not in m.runner_output


def test_every_input_of_a_two_input_model_gets_its_own_first_sample_by_tensor_name(
        phone, two_tower_tflite_path, tmp_path) -> None:
    rng = np.random.default_rng(7)
    feeds = {name: rng.random((SAMPLES, *shape), dtype=np.float32)
             for name, shape in production_models.TWO_TOWER_INPUTS.items()}
    (m,) = run_repeats(phone, two_tower_tflite_path, feeds, tmp_path)
    assert m.status == "ok", m.error
    (command,) = timed_commands(phone)
    assert flag(command, "input_layer") == "serving_default_meta:0,serving_default_image:0"  # model order
    assert flag(command, "input_layer_shape") == "1,8:1,16,16,3"
    assert fed_samples(phone, command) == {"serving_default_meta:0": feeds["meta"][:1].tobytes(),
                                           "serving_default_image:0": feeds["image"][:1].tobytes()}


def test_an_int8_input_is_timed_on_its_quantized_first_sample(phone, int8_io_tflite_path, tmp_path) -> None:
    image = np.random.default_rng(8).random((SAMPLES, 16, 16, 3), dtype=np.float32)
    (m,) = run_repeats(phone, int8_io_tflite_path, {"image": image}, tmp_path)
    assert m.status == "ok", m.error
    (command,) = timed_commands(phone)
    (info,) = describe_tflite(int8_io_tflite_path).inputs
    assert fed_samples(phone, command) == {info.tensor_name: to_tensor(image[:1], info).tobytes()}


def test_a_job_without_evaluation_inputs_leaves_the_inputs_to_the_tool(phone, two_tower_tflite_path, tmp_path) -> None:
    (m,) = run_repeats(phone, two_tower_tflite_path, None, tmp_path)
    assert m.status == "ok", m.error
    assert m.outputs is None
    (command,) = timed_commands(phone)
    assert "--input_layer" not in command and sample_pushes(phone) == []


# --- the stand-in tool reads the flags as the real one ---------------------------------------------


@pytest.mark.parametrize("name", ["x", "serving_default_meta:0", "a:b:", "::0"])
def test_escaped_value_file_items_read_back_as_the_tool_reads_them(name: str) -> None:
    assert split_value_file_item(commands.value_file_item(name, "in-0.bin")) == (name, "in-0.bin")


def run_on_phone(phone: LoopbackAdbDevice, model: Path, flags: str, files: dict[str, bytes]) -> str:
    """Push `model` and `files` into the eval folder and run the stand-in there with `flags`."""
    transport = DirectTransport(phone.serial, connect_timeout_s=5)
    workdir = f"{commands.DEVICE_DIR}/eval/manual"
    try:
        transport.shell(f"mkdir -p {workdir}", timeout_s=10)
        for name, data in {"benchmark_model": b"\x7fELF placeholder", **files}.items():
            phone.host_path(f"{workdir}/{name}").write_bytes(data)
        phone.host_path(f"{workdir}/benchmark_model").chmod(0o755)
        transport.push(model, f"{workdir}/model.tflite", timeout_s=30)
        return transport.shell(f"cd {workdir} && {workdir}/benchmark_model --graph=model.tflite --num_runs=1 "
                               f"--warmup_runs=0 --min_secs=0 {flags} 2>&1; echo EXIT:$?", timeout_s=60).output
    finally:
        transport.close()


def test_the_tool_matches_inputs_by_position_warns_on_names_and_aborts_on_unknown_value_files(
        phone, two_tower_tflite_path) -> None:
    meta, image = np.ones((1, 8), np.float32), np.zeros((1, 16, 16, 3), np.float32)
    files = {"meta.bin": meta.tobytes(), "image.bin": image.tobytes()}
    shapes = "--input_layer_shape=1,8:1,16,16,3"
    renamed = run_on_phone(phone, two_tower_tflite_path,
                           f"--input_layer=m,i {shapes} --input_layer_value_files=m:meta.bin,i:image.bin "
                           "--output_filepath=out.bin", files)
    assert "is named serving_default_meta:0 but flags call it m" in renamed and renamed.endswith("EXIT:0\n")
    written = phone.host_path(f"{commands.DEVICE_DIR}/eval/manual/out.bin").read_bytes()
    expected = litert_outputs(two_tower_tflite_path, {"meta": meta, "image": image})
    assert np.allclose(np.frombuffer(written, np.float32), np.concatenate([expected["scores"][0], expected["box"][0]]))

    unknown = run_on_phone(phone, two_tower_tflite_path,
                           f"--input_layer=m,i {shapes} --input_layer_value_files=meta:meta.bin", files)
    assert "FATAL: Cannot find the corresponding input_layer name(meta) in --input_layer as m,i" in unknown
    assert "Aborted" in unknown and unknown.endswith("EXIT:134\n")

    unescaped = run_on_phone(phone, two_tower_tflite_path,
                             f"--input_layer=a:0,b:0 {shapes} --input_layer_value_files=a:0:meta.bin", files)
    assert "ERROR: a:0:meta.bin contains more than one delimiter." in unescaped and unescaped.endswith("EXIT:1\n")

    one_of_two = run_on_phone(phone, two_tower_tflite_path, "--input_layer=m --input_layer_shape=1,8", files)
    assert "FATAL: Inputs mismatch: Model inputs #:1 expected: 2" in one_of_two and one_of_two.endswith("EXIT:134\n")


def test_a_model_this_machine_cannot_read_fails_the_job_instead_of_the_run(phone, tmp_path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    (m,) = run_repeats(phone, broken, {"x": np.zeros((2, 4), np.float32)}, tmp_path)
    assert m.status == "failed" and m.error is not None
    assert m.error.startswith(f"{broken}: this machine's LiteRT cannot read the model to fit its inputs: ")
    assert timed_commands(phone) == []
