"""Xcode's energy gauge answers (ios_runner.energy_impact) read from what real phones printed
(tests/ios/public/README.md), and the energy impact metric's statistic (benchlab.metrics.energy_impact)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from benchlab.metrics import registered
from benchlab.metrics.energy_impact import METRIC as IMPACT
from benchlab.records import AcceleratorSetting, DeviceInfo, Measurement, Variant
from ios_runner.energy_impact import parse_reply, parse_values, repeat_values

PUBLIC = Path(__file__).with_name("public")


def text(name: str) -> str:
    return (PUBLIC / name).read_text(encoding="utf-8")


def test_pymobiledevice3s_reply_is_keyed_by_pid_and_read_as_printed() -> None:
    reply = ast.literal_eval(text("energy_pmd792_reply_pid1714_display.txt"))
    reading = parse_reply(reply, 1714)
    assert reading is not None and reading.seconds == 1076
    assert reading.impact == 331.15294117647056, "energy.cost as Apple printed it, below the display's own cost"
    assert reading.parts == {"cpu": 0.0, "gpu": 0.0, "display": 341.15294117647056, "networking": 0.0,
                             "location": 0.0}
    assert parse_reply(reply, 1715) is None, "another process's reply is not this one's"
    assert parse_reply({1714.0: reply[1714]}, 1714) == reading, "a pid decoded as a float (2230.0) is the same pid"


def test_the_gauges_first_answer_is_not_a_reading_and_a_cut_line_is_not_an_answer() -> None:
    first, idle, cut = text("energy_tidevice233_first_lines_cut.txt").splitlines()
    assert parse_values(json.loads(first)) is None, "second 0: no CPU, GPU or display cost yet"
    reading = parse_values(json.loads(idle))
    assert reading is not None and (reading.seconds, reading.impact) == (2, -10.0), "an idle app, kept as printed"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut)


@pytest.mark.parametrize(("name", "impact", "parts"), [
    ("energy_tidevice_readme_networking_display.txt", 767.8212481980341,
     {"cpu": 62.15080582703523, "gpu": 0.0, "display": 214.3294117647059, "networking": 501.341030606293,
      "location": 0.0}),
    ("energy_pyidevice106_no_display_key.txt", 990.0161014026303,
     {"cpu": 0.016101402630249513, "gpu": 0.0, "networking": 1000.0, "location": 0.0}),
])
def test_one_process_values_as_other_tools_printed_them(name: str, impact: float, parts: dict[str, float]) -> None:
    raw = text(name)
    values = json.loads(raw) if raw.startswith('{"') else ast.literal_eval(raw)
    reading = parse_values(values)
    assert reading is not None and reading.impact == impact and reading.parts == parts


def test_a_repeats_figure_is_the_mean_of_its_readings_one_per_gauge_second() -> None:
    sample = ast.literal_eval(text("energy_pmd792_reply_pid1714_display.txt"))[1714]
    zeroed = {**sample, "energy.cost": 0.0, "energy.display.cost": 0.0}  # asked again within the second
    later = {**sample, "kIDEGaugeSecondsSinceInitialQueryKey": 1077, "energy.cost": 111.0}
    values = repeat_values([(1714, [{1714: sample}, {1714: zeroed}, {1714: later}])])
    assert values["energy_impact"] == pytest.approx((331.15294117647056 + 111.0) / 2)
    assert values["energy_impact.readings"] == 2
    assert repeat_values([(1714, [{99: sample}])]) == {}


def test_the_metric_is_unitless_kept_apart_from_millijoules_and_never_gates() -> None:
    assert IMPACT.unit != "mJ" and not IMPACT.gates and "unitless" in IMPACT.label
    assert {m.name: m.unit for m in registered()}["energy"] == "mJ"
    device = DeviceInfo(id="u", platform="ios", maker="Apple", model="iPhone", soc=None, os_version="iOS 17",
                        abi="arm64", tier=None, transport="usbmux")
    m = Measurement(job_id="j", run_id="r", suite="s", variant=Variant(model="m", name="v", recipe="r", format="tflite",
                                                                       status="cached"),
                    device=device, accelerator=AcceleratorSetting(name="cpu", kind="cpu"), status="ok", runner="x",
                    metric_values={"energy_impact.part.cpu": 20.0, "energy_impact.readings": 3.0},
                    repeat_values={"energy_impact": (300.0, 330.0, 310.0)})
    columns = IMPACT.columns(m)
    assert columns["energy_impact"] == 310.0 and columns["energy_impact_repeats"] == 3
    assert columns["energy_impact_noise_floor_pct"] > 0 and columns["energy_impact_parts"] == "cpu 20"
    assert IMPACT.cells(columns)["impact"].startswith("310.0 ±")


def test_every_recording_has_a_readme_row() -> None:
    readme = text("README.md")
    recordings = sorted(p.name for p in PUBLIC.glob("*.txt"))
    assert len(recordings) == 4 and all(f"`{name}`" in readme for name in recordings)
