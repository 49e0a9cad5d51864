"""The job/result protocol: example results as Swift writes them, validation, and Swift/Python sync."""

from __future__ import annotations

import typing

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from benchlab.errors import RunnerError, SuiteError
from benchlab.records import AcceleratorSetting
from ios_runner.protocol import (
    COMPUTE_UNITS,
    FORMATS,
    TFLITE_DELEGATES,
    OpPlacement,
    SCHEMA_VERSION,
    ProtocolError,
    RunnerJob,
    RunnerResult,
    RunnerStatus,
    TensorFile,
    app_supports_ios,
    job_json,
    job_settings,
    read_result,
    read_status,
    result_to_samples,
    read_tensor_file,
    status_conditions,
)

DATA = Path(__file__).resolve().parent / "data"
SWIFT_SOURCES = Path(__file__).resolve().parents[2] / "ios_runner" / "app" / "BenchlabRunner"
PROTOCOL_SWIFT = SWIFT_SOURCES / "Protocol.swift"
EXAMPLES = ("result_v1_ok.json", "result_v1_failed.json", "result_v1_unsupported.json",
            "result_v1_coreml_placement.json", "result_v1_litert_coreml_int8.json")


# --- Swift's JSONEncoder, as the app configures it ------------------------------------------------


def _swift_string(text: str) -> str:
    escapes = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
    out = []
    for char in text:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)  # .withoutEscapingSlashes; non-ASCII is written as UTF-8
    return '"' + "".join(out) + '"'


def _swift_number(value: float) -> str:
    # Double.description is the shortest round-trip form (as Python's repr in this range);
    # the encoder drops a trailing ".0".
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def swift_json(value: Any, indent: int = 0) -> str:
    """What JSONEncoder with [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] writes.

    Two-space indent, ``"key" : value``, one array element per line, an empty array as
    ``[`` newline newline indent ``]``, no newline at the end. nil optionals are left out by the
    synthesized Encodable, so ``value`` never holds None.
    """
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _swift_number(value)
    if isinstance(value, str):
        return _swift_string(value)
    if isinstance(value, list):
        items = [inner + swift_json(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, dict):
        assert None not in value.values(), "Swift leaves nil optionals out"
        items = [
            f"{inner}{_swift_string(key)} : {swift_json(value[key], indent + 1)}" for key in sorted(value)
        ]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    raise TypeError(f"not encodable: {value!r}")


# --- the example results ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_result_is_encoded_exactly_as_swift_writes_it(name: str) -> None:
    text = (DATA / name).read_text(encoding="utf-8")
    assert swift_json(json.loads(text)) == text


def test_read_result_reads_the_ok_example() -> None:
    result = read_result(DATA / "result_v1_ok.json")
    assert result.status == "ok" and result.error is None
    assert result.schema_version == 1 < SCHEMA_VERSION  # an app of version 1 is still read
    assert result.job_id == "run42-0007"
    assert result.device_model == "iPhone16,2"
    assert (result.os_version, result.os_build, result.app_version) == ("17.2.1", "21C66", "1.0 (1)")
    assert (result.format, result.compute_units, result.delegate, result.threads) == (
        "mlpackage",
        "all",
        None,
        None,
    )
    assert result.runtime_version is None
    assert result.compile_us == 183412.708
    assert result.load_us == 95021.875
    assert result.first_prediction_us == 2140.333
    assert len(result.warmup_us) == 5
    assert len(result.iterations_us) == 20
    assert min(result.iterations_us) > 500 and max(result.iterations_us) < 800
    assert result.outputs == (TensorFile(name="Identity", file="run42-0007.out0.f32", shape=(1, 1000), samples=8),)
    assert (result.thermal_state_before, result.thermal_state_after) == (0, 0)
    assert result.memory_peak_bytes == 86507520
    assert result.started_at == datetime(2024, 1, 5, 9, 12, 3, tzinfo=timezone.utc)


def test_read_result_reads_the_failed_example_from_text() -> None:
    result = read_result((DATA / "result_v1_failed.json").read_text(encoding="utf-8"))
    assert result.status == "failed"
    assert result.error is not None and result.error.startswith("LiteRT could not create the interpreter")
    assert "\n" not in result.error
    assert (result.format, result.delegate, result.device_model) == ("tflite", "metal", "iPhone12,8")
    assert result.load_us is None and result.first_prediction_us is None
    assert result.iterations_us == () and result.warmup_us == () and result.outputs == ()
    assert result.memory_before_bytes == 38076416 and result.memory_after_load_bytes is None


def test_read_result_reads_the_unsupported_example_as_bytes() -> None:
    result = read_result((DATA / "result_v1_unsupported.json").read_bytes())
    assert result.status == "unsupported"
    assert result.device_model == "iPhone10,1"
    assert "Neural Engine" in (result.error or "")


def test_result_with_unknown_schema_version_is_refused_clearly() -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["schema_version"] = 3
    with pytest.raises(ProtocolError) as caught:
        read_result(json.dumps(data))
    message = str(caught.value)
    assert "schema_version 3 is not supported" in message and "reads 1, 2" in message
    assert caught.value.hint and "ios_runner/app" in caught.value.hint
    assert isinstance(caught.value, RunnerError)


def test_result_without_schema_version_is_not_a_result(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"job_id": "a"}', encoding="utf-8")
    with pytest.raises(ProtocolError, match="no schema_version"):
        read_result(path)


def test_half_written_result_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run42-0007.json"
    path.write_text((DATA / "result_v1_ok.json").read_text(encoding="utf-8")[:200], encoding="utf-8")
    with pytest.raises(ProtocolError, match="run42-0007.json: not JSON"):
        read_result(path)


def test_missing_result_file_is_a_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="cannot read result"):
        read_result(tmp_path / "absent.json")


def test_bad_result_fields_are_named() -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["compute_units"] = "neuralEngine"
    data["thermal_state_after"] = 7
    with pytest.raises(ProtocolError) as caught:
        read_result(json.dumps(data))
    message = str(caught.value)
    assert "compute_units: compute_units 'neuralEngine' is not allowed (allowed: " + ", ".join(COMPUTE_UNITS) in message
    assert "thermal_state_after" in message


def test_ok_result_without_iterations_is_refused() -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["iterations_us"] = []
    with pytest.raises(ProtocolError, match="status ok needs"):
        read_result(json.dumps(data))


def test_failed_result_needs_an_error() -> None:
    data = json.loads((DATA / "result_v1_failed.json").read_text(encoding="utf-8"))
    del data["error"]
    with pytest.raises(ProtocolError, match="needs an error"):
        read_result(json.dumps(data))


def test_unknown_result_field_is_refused() -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["battery_level"] = 80
    with pytest.raises(ProtocolError, match="battery_level"):
        read_result(json.dumps(data))


# --- jobs --------------------------------------------------------------------------------------------


def make_job(**overrides: Any) -> RunnerJob:
    fields: dict[str, Any] = {
        "job_id": "run42-0007",
        "model": "models/3f2a9c1e/mobilenet_v2-fp16.mlpackage",
        "format": "mlpackage",
        "compute_units": "all",
        "warmup": 5,
        "iterations": 20,
        "inputs": [{"name": "image", "file": "inputs/eval-3f2a.f32", "shape": [1, 224, 224, 3], "samples": 8}],
    }
    fields.update(overrides)
    return RunnerJob(**fields)


def test_unknown_compute_unit_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        make_job(compute_units="ane")
    assert "compute_units 'ane' is not allowed (allowed: cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all)" in str(
        caught.value
    )


def test_unknown_delegate_lists_the_allowed_ones() -> None:
    with pytest.raises(ValidationError, match=r"delegate 'gpu' is not allowed \(allowed: cpu, coreml, metal\)"):
        make_job(model="models/m.tflite", format="tflite", compute_units=None, delegate="gpu")


def test_each_format_needs_its_own_setting() -> None:
    with pytest.raises(ValidationError, match="needs compute_units"):
        make_job(compute_units=None)
    with pytest.raises(ValidationError, match="needs delegate"):
        make_job(model="models/m.tflite", format="tflite", compute_units=None)
    with pytest.raises(ValidationError, match="apply to tflite jobs only"):
        make_job(threads=4)
    with pytest.raises(ValidationError, match="does not end in .tflite"):
        make_job(format="tflite", compute_units=None, delegate="cpu")


@pytest.mark.parametrize("path", ["/var/mobile/model.tflite", "../model.tflite", "models/../../x.tflite"])
def test_job_paths_must_stay_inside_documents(path: str) -> None:
    with pytest.raises(ValidationError, match="relative to the app's Documents"):
        make_job(model=path, format="tflite", compute_units=None, delegate="cpu")


def test_job_id_must_be_a_safe_file_name() -> None:
    with pytest.raises(ValidationError, match="job_id"):
        make_job(job_id="run 42/7")


def test_inputs_must_hold_the_same_number_of_samples() -> None:
    inputs = [
        {"name": "a", "file": "inputs/a.f32", "shape": [1, 4], "samples": 2},
        {"name": "b", "file": "inputs/b.f32", "shape": [1, 4], "samples": 3},
    ]
    with pytest.raises(ValidationError, match="same number of samples"):
        make_job(inputs=inputs)


def test_job_json_writes_every_field_nulls_included() -> None:
    job = make_job(model="models/m.tflite", format="tflite", compute_units=None, delegate="metal", threads=2)
    data = json.loads(job_json(job))
    assert data["schema_version"] == 1 and data["delegate"] == "metal" and data["threads"] == 2
    assert data["compute_units"] is None  # written as null: Swift decodes it as nil
    assert data["inputs"][0] == {"name": "image", "file": "inputs/eval-3f2a.f32", "shape": [1, 224, 224, 3], "samples": 8,
                                 "dtype": "float32"}
    assert RunnerJob.model_validate_json(job_json(job)) == job


def test_app_supports_ios_16_and_later() -> None:
    assert app_supports_ios("16.0") and app_supports_ios("17.2.1") and app_supports_ios("26.1")
    assert not app_supports_ios("15.7.9")  # the iPhone 7 fixture: iOS 15 is its last
    assert not app_supports_ios("not a version")


# --- mapping to benchlab records ---------------------------------------------------------------------


def test_result_to_samples_gives_measurement_fields() -> None:
    result = read_result(DATA / "result_v1_ok.json")
    samples = result_to_samples(result, make_job())
    assert samples.status == "ok" and samples.error is None
    assert samples.runner_version == "1.0 (1)"
    assert samples.init_us == 95021.875 and samples.compile_us == 183412.708
    assert samples.first_us == 2140.333
    assert samples.samples_us == (result.iterations_us,)
    assert samples.warmup_us == result.warmup_us
    assert samples.memory_init_mb == pytest.approx((78954496 - 41287680) / 2**20)
    assert samples.peak_memory_mb == pytest.approx(86507520 / 2**20)
    assert samples.conditions_before.thermal_status == 0
    assert samples.conditions_after.timestamp == result.finished_at.timestamp()
    assert samples.started_at == "2024-01-05T09:12:03+00:00"


def test_result_to_samples_of_a_failure_has_no_samples() -> None:
    samples = result_to_samples(read_result(DATA / "result_v1_failed.json"))
    assert samples.status == "failed" and samples.error
    assert samples.samples_us == () and samples.init_us is None and samples.memory_init_mb is None
    assert samples.conditions_before.thermal_status == 1


def test_result_to_samples_checks_it_answers_the_job() -> None:
    result = read_result(DATA / "result_v1_ok.json")
    with pytest.raises(ProtocolError, match="expected 'other'"):
        result_to_samples(result, make_job(job_id="other"))
    with pytest.raises(ProtocolError, match="asked for 5 and 50"):
        result_to_samples(result, make_job(iterations=50))


def test_job_settings_map_accelerators_to_job_fields() -> None:
    coreml = AcceleratorSetting(name="coreml-all", kind="coreml", options={"compute_units": "all"})
    assert job_settings("mlpackage", coreml) == {"format": "mlpackage", "compute_units": "all"}
    cpu = AcceleratorSetting(name="cpu-t2", kind="cpu", threads=2)
    assert job_settings("tflite", cpu) == {"format": "tflite", "delegate": "cpu", "threads": 2}
    gpu = AcceleratorSetting(name="gpu", kind="gpu", options={"gpu_precision_loss_allowed": False})
    assert job_settings("tflite", gpu)["delegate"] == "metal"
    assert job_settings("tflite", gpu)["gpu_precision_loss_allowed"] is False
    with pytest.raises(SuiteError, match="cannot run a mlpackage model"):
        job_settings("mlpackage", cpu)
    bad = AcceleratorSetting(name="coreml-x", kind="coreml", options={"compute_units": "ane"})
    with pytest.raises(SuiteError, match="allowed: cpuOnly"):
        job_settings("mlpackage", bad)


def test_an_output_file_the_result_names_reads_back_as_samples_by_shape(tmp_path: Path) -> None:
    (tensor,) = read_result(DATA / "result_v1_ok.json").outputs
    assert (tensor.name, tensor.shape, tensor.samples, tensor.byte_size) == ("Identity", (1, 1000), 8, 32000)
    values = np.arange(8 * 1000, dtype="<f4").reshape(8, 1, 1000) / 1000
    (tmp_path / tensor.file).write_bytes(values.tobytes())  # as the app appends them, one sample at a time
    assert np.array_equal(read_tensor_file(tmp_path / tensor.file, tensor), values)


def test_short_output_file_is_refused(tmp_path: Path) -> None:
    (tensor,) = read_result(DATA / "result_v1_ok.json").outputs
    (tmp_path / tensor.file).write_bytes(b"\0" * 12)
    with pytest.raises(ProtocolError, match="12 bytes, expected 32000"):
        read_tensor_file(tmp_path / tensor.file, tensor)


def test_read_status_reads_a_heartbeat() -> None:
    text = swift_json(
        {
            "app_version": "1.0 (1)",
            "current_job": "run42-0008",
            "device_model": "iPhone12,8",
            "jobs_done": 7,
            "os_build": "20H307",
            "os_version": "16.7.5",
            "schema_version": 1,
            "state": "running",
            "thermal_state": 1,
            "updated_at": "2024-01-05T09:14:10Z",
        }
    )
    status = read_status(text)
    assert isinstance(status, RunnerStatus)
    assert (status.state, status.current_job, status.jobs_done) == ("running", "run42-0008", 7)
    assert status.thermal_state == 1
    with pytest.raises(ProtocolError, match="state 'busy' is not allowed"):
        read_status(text.replace('"running"', '"busy"'))


# --- the Swift mirror cannot drift ---------------------------------------------------------------


@dataclass(frozen=True)
class SwiftProperty:
    name: str
    type: str

    @property
    def optional(self) -> bool:
        return self.type.endswith("?")


@dataclass(frozen=True)
class SwiftStruct:
    name: str
    properties: tuple[SwiftProperty, ...]
    #: Swift property name → JSON key, from `enum CodingKeys`.
    coding_keys: dict[str, str]


_STRUCT = re.compile(r"^struct (\w+)\b[^{]*\{", re.MULTILINE)
_STORED = re.compile(r"^\s*(?:var|let) (\w+): ([^={]+?)\s*$")
_CASE = re.compile(r"^\s*case (.+)$")
_CASE_ITEM = re.compile(r'^(\w+)(?:\s*=\s*"([^"]*)")?$')


def _block(text: str, open_index: int) -> str:
    """The text between the brace at ``open_index`` and its matching close brace."""
    depth = 0
    for index in range(open_index, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : index]
    raise AssertionError("unbalanced braces in the Swift source")


def parse_swift_structs(text: str) -> dict[str, SwiftStruct]:
    """Top-level structs: stored properties (at the struct's own level) and CodingKeys."""
    text = re.sub(r"//[^\n]*", "", text)
    structs = {}
    for match in _STRUCT.finditer(text):
        body = _block(text, match.end() - 1)
        properties, depth = [], 0
        for line in body.splitlines():
            if depth == 0:
                stored = _STORED.match(line)
                if stored:
                    properties.append(SwiftProperty(stored[1], stored[2].strip()))
            depth += line.count("{") - line.count("}")
        keys: dict[str, str] = {}
        enum = re.search(r"enum CodingKeys: String, CodingKey \{", body)
        if enum:
            for line in _block(body, enum.end() - 1).splitlines():
                case = _CASE.match(line)
                if not case:
                    continue
                for item in case[1].split(","):
                    parsed = _CASE_ITEM.match(item.strip())
                    assert parsed, f"cannot read CodingKeys case {item!r} in {match[1]}"
                    keys[parsed[1]] = parsed[2] if parsed[2] is not None else parsed[1]
        structs[match[1]] = SwiftStruct(match[1], tuple(properties), keys)
    return structs


MIRRORED = {"RunnerJob": RunnerJob, "RunnerResult": RunnerResult, "RunnerStatus": RunnerStatus, "TensorFile": TensorFile,
            "OpPlacement": OpPlacement}


@pytest.fixture(scope="module")
def swift_structs() -> dict[str, SwiftStruct]:
    return parse_swift_structs(PROTOCOL_SWIFT.read_text(encoding="utf-8"))


def test_swift_source_says_it_mirrors_protocol_py() -> None:
    assert "Mirrors ios_runner/protocol.py" in PROTOCOL_SWIFT.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(MIRRORED))
def test_swift_coding_keys_match_python_fields(name: str, swift_structs: dict[str, SwiftStruct]) -> None:
    struct = swift_structs[name]
    swift_properties = [prop.name for prop in struct.properties]
    # Every stored property has a key and every key a property (what Codable synthesis needs).
    assert sorted(struct.coding_keys) == sorted(swift_properties)
    assert sorted(struct.coding_keys.values()) == sorted(MIRRORED[name].model_fields)


@pytest.mark.parametrize("name", sorted(MIRRORED))
def test_swift_optionals_match_python_requirements(name: str, swift_structs: dict[str, SwiftStruct]) -> None:
    struct = swift_structs[name]
    model = MIRRORED[name]
    for prop in struct.properties:
        key = struct.coding_keys[prop.name]
        field = model.model_fields[key]
        if name == "RunnerJob":
            # Python writes every job field; a null must land in a Swift optional.
            python_allows_none = type(None) in typing.get_args(field.annotation)
            assert prop.optional == python_allows_none, f"{name}.{key}: Swift {prop.type}, Python {field.annotation}"
        else:
            # Swift leaves nil optionals out; Python must then not require the key.
            if prop.optional:
                assert not field.is_required(), f"{name}.{key} is optional in Swift but required in Python"


def test_swift_schema_version_matches() -> None:
    text = PROTOCOL_SWIFT.read_text(encoding="utf-8")
    assert re.search(r"let protocolSchemaVersion = (\d+)", text)[1] == str(SCHEMA_VERSION)  # type: ignore[index]


def test_job_json_decodes_with_the_swift_keys(swift_structs: dict[str, SwiftStruct]) -> None:
    data = json.loads(job_json(make_job()))
    assert set(data) == set(swift_structs["RunnerJob"].coding_keys.values())
    assert set(data["inputs"][0]) == set(swift_structs["TensorFile"].coding_keys.values())


@pytest.mark.parametrize(("swift_name", "values"), [("formats", FORMATS), ("computeUnits", COMPUTE_UNITS),
                                                   ("delegates", TFLITE_DELEGATES)])
def test_swift_allowed_settings_match_python(swift_name: str, values: tuple[str, ...]) -> None:
    """The app refuses a bad setting with the same allowed values the host checks against."""
    text = PROTOCOL_SWIFT.read_text(encoding="utf-8")
    found = re.search(rf"static let {swift_name} = \[([^\]]*)\]", text)
    assert found, f"Allowed.{swift_name} not found in Protocol.swift"
    assert tuple(re.findall(r'"([^"]*)"', found[1])) == values


# --- what a first real run would hit (issue 11) ----------------------------------------------------


def test_a_scalar_output_is_readable(tmp_path: Path) -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["outputs"].append({"name": "score", "file": "run42-0007.out1.f32", "shape": [], "samples": 8})
    result = read_result(json.dumps(data))
    scalar = result.outputs[1]
    assert scalar.shape == () and scalar.byte_size == 4 * 8
    (tmp_path / scalar.file).write_bytes(np.arange(8, dtype="<f4").tobytes())
    scores = read_tensor_file(tmp_path / scalar.file, scalar)
    assert scores.shape == (8,) and scores.tolist() == list(range(8))


def test_repeated_output_names_are_refused() -> None:
    data = json.loads((DATA / "result_v1_ok.json").read_text(encoding="utf-8"))
    data["outputs"].append(dict(data["outputs"][0], file="run42-0007.out1.f32"))
    with pytest.raises(ProtocolError, match="output names repeat"):
        read_result(json.dumps(data))


def test_a_failed_result_echoing_a_bad_setting_is_still_a_clean_failure() -> None:
    """Apps before the fix echoed the job's settings before checking them."""
    data = json.loads((DATA / "result_v1_failed.json").read_text(encoding="utf-8"))
    data.update(format="mlpackage", compute_units="neuralEngineOnly", delegate=None,
                error="compute_units neuralEngineOnly is not one of cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all")
    result = read_result(json.dumps({k: v for k, v in data.items() if v is not None}))
    assert result.status == "failed" and result.compute_units is None and result.format == "mlpackage"
    assert "neuralEngineOnly" in (result.error or "")


def test_core_ml_op_placement_gives_delegation_and_conditions() -> None:
    result = read_result(DATA / "result_v1_coreml_placement.json")
    assert result.op_placement is not None and len(result.op_placement) == 7
    assert result.op_placement[1].device == "neuralEngine" and "gpu" in result.op_placement[1].supported
    samples = result_to_samples(result)
    assert (samples.delegated_nodes, samples.total_nodes, samples.delegate_applied) == (5, 7, "partial")
    before, after = samples.conditions_before, samples.conditions_after
    assert (before.thermal_status, before.thermal_scale, before.thermal_level, before.low_power_mode) == (
        0, "ios-thermal-state", 0, False)
    assert (after.thermal_status, after.thermal_level) == (1, 1)


def test_cpu_only_core_ml_is_not_a_delegation() -> None:
    data = json.loads((DATA / "result_v1_coreml_placement.json").read_text(encoding="utf-8"))
    data["compute_units"] = "cpuOnly"
    data["op_placement"] = [dict(op, device="cpu") for op in data["op_placement"]]
    samples = result_to_samples(read_result(json.dumps(data)))
    assert (samples.delegated_nodes, samples.delegate_applied) == (None, None)


def test_the_litert_core_ml_delegate_taking_no_node_is_recorded_as_not_applied() -> None:
    result = read_result(DATA / "result_v1_litert_coreml_int8.json")
    assert (result.litert_delegate, result.delegated_nodes, result.total_nodes) == ("coreml", 0, 31)
    samples = result_to_samples(result)
    assert samples.delegate_applied == "no"
    assert samples.conditions_before.low_power_mode is True


def test_op_placement_device_names_are_checked() -> None:
    data = json.loads((DATA / "result_v1_coreml_placement.json").read_text(encoding="utf-8"))
    data["op_placement"][0]["device"] = "ane"
    with pytest.raises(ProtocolError, match="device 'ane' is not allowed"):
        read_result(json.dumps(data))


def test_status_conditions_carry_the_raw_state_its_level_and_low_power_mode() -> None:
    status = RunnerStatus(schema_version=1, app_version="1.1 (2)", device_model="iPhone16,1", os_version="17.5",
                          state="idle", jobs_done=0, thermal_state=2, low_power_mode=True,
                          updated_at=datetime(2024, 1, 5, 9, 12, 3, tzinfo=timezone.utc))
    conditions = status_conditions(status, now=1704445925.0)
    assert (conditions.timestamp, conditions.thermal_status, conditions.thermal_level) == (1704445925.0, 2, 2)
    assert conditions.thermal_scale == "ios-thermal-state" and conditions.low_power_mode is True


def test_cpu_without_xnnpack_is_refused_on_iphones() -> None:
    with pytest.raises(SuiteError, match="xnnpack false is not available on iPhones"):
        job_settings("tflite", AcceleratorSetting(name="cpu-plain", kind="cpu", threads=1, xnnpack=False))
    assert job_settings("tflite", AcceleratorSetting(name="cpu", kind="cpu", threads=2))["delegate"] == "cpu"
