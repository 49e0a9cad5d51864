"""The Swift/Python contract on shared vectors (tests/ios/data/contract/).

``job_*.json`` is a job as the host writes it; the app's Codable structs (Protocol.swift, parsed
here) must decode it: every key a CodingKey, every value of the Swift property's type.
``result_*.json`` are results as the app's JSONEncoder writes them, hand-written from those structs
for the edge cases: an output with a zero-length dimension (an empty tensor file), and numbers that
were not finite, left out with a note (Swift leaves a nil optional out; a JSON null is read the same).
The host must read each.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ios_runner.protocol import RunnerJob, TensorFile, job_json, read_result, read_tensor_file, result_to_samples
from tests.ios.test_protocol import DATA, PROTOCOL_SWIFT, SwiftStruct, parse_swift_structs, swift_json

VECTORS = DATA / "contract"
#: The edge-case vectors, and the examples of tests/ios/data (test_protocol.py) written by earlier apps.
RESULTS = sorted(VECTORS.glob("result_*.json")) + sorted(DATA.glob("result_*.json"))
#: The job in job_v2_two_inputs.json: token ids (int32) and a float mask, two samples each.
JOB = RunnerJob(
    job_id="a1b2c3d4-r0-qa-int8-cpu", model="models/9f86d081884c7d65/qa-int8.tflite", format="tflite",
    delegate="cpu", threads=2, warmup=2, iterations=3,
    inputs=(TensorFile(name="serving_default_input_ids:0", file="inputs/5e884898da280471.int32", shape=(1, 7),
                       samples=2, dtype="int32"),
            TensorFile(name="serving_default_mask:0", file="inputs/2c26b46b68ffc68f.float32", shape=(1, 7),
                       samples=2, dtype="float32")),
)
_DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")  # JSONDecoder's .iso8601


@pytest.fixture(scope="module")
def structs() -> dict[str, SwiftStruct]:
    return parse_swift_structs(PROTOCOL_SWIFT.read_text(encoding="utf-8"))


def _fits(swift_type: str, value: Any, structs: dict[str, SwiftStruct]) -> bool:
    """Whether JSONDecoder decodes ``value`` as a Swift ``swift_type`` (as the app configures it)."""
    base = swift_type.removesuffix("?")
    if value is None:
        return swift_type.endswith("?")
    if base.startswith("["):
        return isinstance(value, list) and all(_fits(base[1:-1], item, structs) for item in value)
    if base in ("Int", "Int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "Double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "Bool":
        return isinstance(value, bool)
    if base == "String":
        return isinstance(value, str)
    if base == "Date":
        return isinstance(value, str) and _DATE.match(value) is not None
    if base in structs:
        return isinstance(value, dict) and not decode_problems(structs[base], value, structs)
    raise AssertionError(f"no decoding rule for the Swift type {swift_type}")


def decode_problems(struct: SwiftStruct, data: dict[str, Any], structs: dict[str, SwiftStruct]) -> list[str]:
    """What would stop the app's synthesized Decodable for ``struct`` from reading ``data`` as sent
    (and keys it would silently drop)."""
    problems = []
    for prop in struct.properties:
        key = struct.coding_keys[prop.name]
        if key not in data:
            if not prop.optional:
                problems.append(f"{struct.name}.{key} is missing")
        elif not _fits(prop.type, data[key], structs):
            problems.append(f"{struct.name}.{key}: {data[key]!r} is not a Swift {prop.type}")
    problems += [f"{struct.name} has no key {key}" for key in data if key not in struct.coding_keys.values()]
    return problems


def test_the_job_vector_is_what_the_host_writes() -> None:
    assert job_json(JOB) == (VECTORS / "job_v2_two_inputs.json").read_text(encoding="utf-8")


def test_the_app_decodes_the_job_the_host_writes(structs: dict[str, SwiftStruct]) -> None:
    data = json.loads((VECTORS / "job_v2_two_inputs.json").read_text(encoding="utf-8"))
    assert decode_problems(structs["RunnerJob"], data, structs) == []
    assert data["schema_version"] == 2, "int32 ids need version 2"


@pytest.mark.parametrize("path", RESULTS, ids=lambda path: path.name)
def test_each_result_vector_is_what_the_apps_encoder_writes(path: Path, structs: dict[str, SwiftStruct]) -> None:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert swift_json(data) == text, "the encoder's layout: sorted keys, two-space indent, nil left out"
    assert decode_problems(structs["RunnerResult"], data, structs) == [], "only what Protocol.swift declares"


def test_an_output_with_a_zero_length_dimension_is_read(tmp_path: Path) -> None:
    result = read_result(VECTORS / "result_v2_zero_length_output.json")
    assert result.status == "ok"
    boxes, scores, count = result.outputs
    assert (boxes.shape, scores.shape, count.shape) == ((1, 0, 4), (1, 0), (1,))
    assert boxes.byte_size == 0 and scores.byte_size == 0
    (tmp_path / boxes.file).write_bytes(b"")  # what the app's OutputWriter leaves for an empty output
    (tmp_path / count.file).write_bytes(np.array([0], dtype="<i4").tobytes())
    assert read_tensor_file(tmp_path / boxes.file, boxes).shape == (1, 1, 0, 4)
    assert read_tensor_file(tmp_path / count.file, count).tolist() == [[0]]
    assert result_to_samples(result).samples_us == ((2188.75, 2201.5, 2193.0),)


@pytest.mark.parametrize("explicit_null", [False, True], ids=["left out, as Swift writes it", "a JSON null"])
def test_numbers_that_were_not_finite_come_as_null_with_a_note(explicit_null: bool) -> None:
    data = json.loads((VECTORS / "result_v2_not_finite_left_out.json").read_text(encoding="utf-8"))
    if explicit_null:
        data["first_prediction_us"] = None
    result = read_result(json.dumps(data))
    assert result.status == "failed" and result.first_prediction_us is None
    assert result.note == "not finite, so left out: first_prediction_us (nan), 1 of 3 iterations_us"
    assert result.error == f"the app measured times that are not numbers ({result.note})"
    samples = result_to_samples(result)
    assert samples.first_us is None and samples.error == result.error


def test_the_note_and_error_are_worded_as_the_app_words_them() -> None:
    protocol = PROTOCOL_SWIFT.read_text(encoding="utf-8")
    assert '"not finite, so left out: "' in protocol
    assert '"the app measured times that are not numbers (' in protocol
