"""Where every op of a Core ML model runs on an iPhone (issue 13): the app's MLComputePlan placement,
read by benchlab's real iOS driver from the fake phone's results, as the same op profile rows Android
records, with the delegate coverage, fallback ops and placement changes that follow from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from benchlab.nightly.compare import placement_change
from benchlab.records import OP_PROFILE_KEYS, full_delegation_failure
from benchlab.results.run_record import measurement_row
from ios_runner.device import DELEGATE_FALLBACK
from ios_runner.protocol import LITERT_PLACEMENT_NOT_AVAILABLE, PLACEMENT_NOT_AVAILABLE, op_profile, read_result
from tests.ios.fake_phone import FakePhone, FakeServices
from tests.ios.test_ios_device import ANE, CPU_ONLY, LITERT_COREML, device_for, make_job
from tests.ios.test_protocol import DATA

MakePhone = Callable[..., tuple[FakePhone, FakeServices]]
#: The ML program below as MLComputePlan lists it: every operation but the constants, in program order.
PROGRAM_OPS = ["ios17.cast", "ios17.mul", "ios17.slice_by_size", "ios17.softmax", "ios17.mul", "ios17.reduce_sum",
               "ios17.cast", "ios17.cast"]


@pytest.fixture(scope="module")
def heads_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ML program (.mlpackage, iOS 17 opset) with heads_tflite's input and outputs, converted by
    coremltools: fp16 inside, so it casts at both ends as converted models do."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS17)
    def heads(features):  # type: ignore[no-untyped-def]
        head = mb.slice_by_size(x=mb.mul(x=features, y=2.0), begin=[0, 0], size=[1, 3])
        zprobs = mb.softmax(x=head, axis=-1, name="zprobs")
        ascore = mb.reduce_sum(x=mb.mul(x=features, y=features), axes=[1], keep_dims=False, name="ascore")
        return zprobs, ascore

    path = tmp_path_factory.mktemp("program") / "heads.mlpackage"
    ct.convert(heads, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17).save(str(path))
    return path


def iphone_15(make_phone: MakePhone, heads_tflite: Path, version: str = "17.5.1", **options: object):  # type: ignore[no-untyped-def]
    phone, services = make_phone(product_type="iPhone16,1", product_version=version, build_version="21F90",
                                 coreml_reference=heads_tflite, **options)
    return phone, device_for(phone, services)


def test_each_op_of_the_program_is_a_row_with_where_core_ml_runs_it(
        make_phone: MakePhone, heads_program: Path, heads_tflite: Path) -> None:
    _, device = iphone_15(make_phone, heads_tflite, coreml_cpu_ops=frozenset({"cast"}))
    m = device.run(make_job(heads_program, "mlpackage", ANE))
    assert m.status == "ok", m.error
    assert [row["op"] for row in m.op_profile] == PROGRAM_OPS
    assert all(tuple(row) == OP_PROFILE_KEYS for row in m.op_profile)
    assert [row["ran_on"] for row in m.op_profile] == ["CPU", *["Neural Engine"] * 5, "CPU", "CPU"]
    assert [row["node"] for row in m.op_profile][:2] == ["#0", "#1"]
    assert m.delegated_time_pct is None and m.op_profile_note is None  # a plan has no times
    # Coverage, fallback and the flag follow from the rows, as on Android.
    assert (m.delegated_nodes, m.total_nodes, m.delegate_applied) == (5, 8, "partial")
    assert m.flags == (DELEGATE_FALLBACK,)
    assert m.cpu_fallback_ops == {"ios17.cast": 3}
    assert measurement_row(m)["cpu_fallback_ops"] == "ios17.cast ×3"
    failed = full_delegation_failure(m)
    assert failed.status == "failed" and failed.error == (
        "require_full_delegation: 3 op(s) fell back to the CPU: ios17.cast ×3")


def test_an_op_that_moves_to_the_cpu_night_over_night_is_a_placement_change(
        make_phone: MakePhone, heads_program: Path, heads_tflite: Path) -> None:
    phone, device = iphone_15(make_phone, heads_tflite, coreml_cpu_ops=frozenset({"cast"}))
    before = device.run(make_job(heads_program, "mlpackage", ANE))
    phone.coreml_cpu_ops = frozenset({"cast", "softmax"})  # e.g. a new iOS build plans softmax on the CPU
    after = device.run(make_job(heads_program, "mlpackage", ANE))
    assert placement_change(before, after) == "placement changed: ios17.softmax now on CPU"
    assert placement_change(after, before) == "placement changed: ios17.softmax back on the accelerator"


def test_before_ios_17_4_the_row_says_placement_is_not_available(
        make_phone: MakePhone, heads_program: Path, heads_tflite: Path) -> None:
    _, device = iphone_15(make_phone, heads_tflite, version="17.2.1")
    m = device.run(make_job(heads_program, "mlpackage", ANE))
    assert m.status == "ok" and m.op_profile == ()
    assert m.op_profile_note == "not available: MLComputePlan needs iOS 17.4 or later"  # the app's own words
    assert m.delegate_applied is None and full_delegation_failure(m) == m  # unknown is not a failure


def test_cpu_only_units_have_no_fallback_to_report(make_phone: MakePhone, heads_program: Path,
                                                   heads_tflite: Path) -> None:
    _, device = iphone_15(make_phone, heads_tflite, coreml_cpu_ops=frozenset({"cast"}))
    m = device.run(make_job(heads_program, "mlpackage", CPU_ONLY))
    assert m.status == "ok" and m.op_profile == () and m.op_profile_note is None
    assert full_delegation_failure(m) == m


def test_litert_on_the_core_ml_delegate_says_placement_is_not_read(make_phone: MakePhone, heads_tflite: Path) -> None:
    _, device = iphone_15(make_phone, heads_tflite, coreml_delegate_nodes=(3, 4))
    m = device.run(make_job(heads_tflite, "tflite", LITERT_COREML))
    assert m.status == "ok" and m.op_profile == () and m.op_profile_note == LITERT_PLACEMENT_NOT_AVAILABLE
    assert (m.delegated_nodes, m.total_nodes, m.delegate_applied) == (3, 4, "partial")


def test_a_result_from_an_app_without_placement_or_note_says_what_is_needed() -> None:
    recorded = read_result(DATA / "result_v1_coreml_placement.json")
    rows, note = op_profile(recorded)
    assert note is None and [row["ran_on"] for row in rows][:2] == ["CPU", "Neural Engine"]
    older_app = recorded.model_copy(update={"op_placement": None, "op_placement_note": None})
    assert op_profile(older_app) == ((), PLACEMENT_NOT_AVAILABLE)
