"""End to end on this machine: the quickstart suite through the CLI, the store, the report."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import benchlab
from benchlab.cli import main
from benchlab.results.run_record import RunRecord

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Run the shipped quickstart suite (real model, every variant) with a shorter scenario."""
    work = tmp_path_factory.mktemp("quickstart")
    suite = yaml.safe_load((REPO / "suites" / "quickstart.yaml").read_text())
    suite["scenario"] = {"warmup": 2, "iterations": 15, "min_seconds": 0, "repeats": 2}
    suite["accelerators"] = [{"kind": "cpu", "threads": 1}, {"kind": "cpu", "threads": 1, "xnnpack": False}]
    suite_path = work / "quickstart.yaml"
    suite_path.write_text(yaml.safe_dump(suite))
    results = work / "results"
    assert main(["run", str(suite_path), "--results", str(results)]) == 0
    (run_dir,) = list(results.iterdir())
    return suite_path, run_dir, suite["name"]


def test_quickstart_measures_every_litert_variant_and_sizes_core_ml(quickstart_run: tuple[Path, Path, str]) -> None:
    _, run_dir, _ = quickstart_run
    df = benchlab.load_results(run_dir)
    tflite = df[df["format"] == "tflite"]
    assert len(tflite) == 16 and set(tflite["status"]) == {"ok"}  # 8 LiteRT variants x 2 accelerators
    assert set(tflite["accelerator"]) == {"cpu-t1", "cpu-t1-noxnnpack"}
    assert (tflite["latency_repeats"] == 2).all() and (tflite["latency_count"] == 30).all()
    assert (tflite["latency_ms_median"] > 0).all()
    fp32 = tflite[tflite["variant"] == "fp32"]
    assert (fp32["accuracy"] >= 97.0).all(), "the built-in model must reach 97% top-1 on the held-out digits"
    assert (fp32["accuracy_delta"] == 0).all() and (fp32["fidelity_top1_agreement"] == 1.0).all()
    int8 = tflite[tflite["variant"] == "full-int8"].iloc[0]
    assert int8["size_bytes"] < fp32.iloc[0]["size_bytes"] / 2
    assert int8["fidelity_top1_agreement"] > 0.95
    # The two variants made by training: pruned (half its Conv2D/Dense weights zero, stored sparse,
    # so it deflates smaller) and a distilled half-width student, far smaller, still well above chance.
    pruned = tflite[tflite["variant"] == "prune-50"].iloc[0]
    student = tflite[tflite["variant"] == "distill-0.5x"].iloc[0]
    assert pruned["size_compressed_bytes"] < fp32.iloc[0]["size_compressed_bytes"]
    assert pruned["accuracy"] >= 90.0
    # The chain: the same pruned model (trained once), then quantized to full int8, its zeros kept.
    chained = tflite[tflite["variant"] == "prune-50+full-int8"].iloc[0]
    assert chained["recipe"] == "prune+full-int8" and chained["size_bytes"] < pruned["size_bytes"]
    assert chained["size_compressed_bytes"] < 0.85 * int8["size_compressed_bytes"]  # its zeros deflate
    assert chained["accuracy"] >= pruned["accuracy"] - 2.0
    variants = {v.name: v for v in RunRecord.load(run_dir).variants}  # lineage kept in run.json
    assert [step["step"] for step in variants["prune-50+full-int8"].lineage] == ["prune-50", "full-int8"]
    assert variants["prune-50+full-int8"].lineage[0]["sha256"] == variants["prune-50"].lineage[0]["sha256"]
    assert student["size_bytes"] < fp32.iloc[0]["size_bytes"] / 4 and student["accuracy"] > 50.0

    coreml = df[df["format"] == "mlpackage"]
    assert sorted(coreml["variant"]) == ["coreml-fp16", "coreml-int8", "coreml-palettize-4bit",
                                         "coreml-palettize-6bit", "coreml-prune-50"]
    assert set(coreml["status"]) == {"unsupported"}
    assert coreml["error"].str.startswith("built, not runnable on this device").all()
    sizes = coreml.set_index("variant")["size_bytes"]
    assert sizes["coreml-palettize-4bit"] < sizes["coreml-int8"] < sizes["coreml-fp16"]

    for name in ("report.html", "latency.png", "tradeoff.png", "run.json", "measurements.jsonl",
                 "measurements.parquet", "samples.parquet"):
        assert (run_dir / name).stat().st_size > 0


def test_second_optimize_reuses_every_variant(quickstart_run: tuple[Path, Path, str],
                                              capsys: pytest.CaptureFixture) -> None:
    suite_path, _, _ = quickstart_run
    assert main(["optimize", str(suite_path)]) == 0
    assert "variants: 0 built, 13 reused from cache" in capsys.readouterr().err


def test_report_rebuilds_from_the_store_alone(quickstart_run: tuple[Path, Path, str]) -> None:
    _, run_dir, _ = quickstart_run
    (run_dir / "report.html").unlink()
    (run_dir / "tradeoff.png").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").exists() and (run_dir / "tradeoff.png").exists()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (make test installs it)")
def test_report_as_a_person_sees_it_in_chromium(quickstart_run: tuple[Path, Path, str], tmp_path: Path) -> None:
    from PIL import Image

    _, run_dir, _ = quickstart_run
    page = (run_dir / "report.html").resolve().as_uri()
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120).stdout
    for text in ("What to ship", "Size, speed and accuracy", "Latency per variant", "All measurements",
                 "full-int8", "coreml-palettize-4bit", "built, not runnable on this device"):
        assert text in dom
    assert dom.count("data:image/png;base64,") == 2  # self-contained: plots embedded, nothing fetched
    assert 'class="pick"' in dom

    shot = tmp_path / "report.png"
    subprocess.run(["chromium", *flags, "--window-size=1400,2400", f"--screenshot={shot}", page],
                   capture_output=True, timeout=120, check=True)
    image = Image.open(shot).convert("RGB")
    # The trade-off plot's accuracy colours (viridis) only appear if the embedded PNG decoded.
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200
    non_white = sum(count for count, rgb in colours if rgb != (255, 255, 255))
    assert non_white > 0.05 * image.width * image.height


def test_custom_op_model_fails_alone_and_the_rest_of_the_suite_runs(tmp_path: Path, tiny_tflite_path: Path,
                                                                     custom_op_tflite_path: Path, digits_npz: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    suite = {
        "name": "mixed",
        "models": [{"name": "custom", "path": str(custom_op_tflite_path)},
                   {"name": "tiny", "path": str(tiny_tflite_path)}],
        "dataset": {"npz": str(digits_npz)},
        "variants": ["tflite"],
        "scenario": {"warmup": 1, "iterations": 5, "repeats": 2},
    }
    suite_path = tmp_path / "mixed.yaml"
    suite_path.write_text(yaml.safe_dump(suite))
    assert main(["run", str(suite_path), "--results", str(tmp_path / "results")]) == 0
    df = benchlab.load_results(next((tmp_path / "results").iterdir())).set_index("model")
    assert df.loc["custom", "status"] == "failed"
    # It never ran, so it is a failed build, not a variant that fails on the device.
    assert df.loc["custom", "error"] == ("variant not built: tflite failed: does not run in LiteRT: custom op Betainc "
                                         "not available in this LiteRT runtime")
    assert df.loc["tiny", "status"] == "ok" and df.loc["tiny", "accuracy"] > 0
    assert "custom op Betainc not available" in " ".join(capsys.readouterr().out.split())  # wrapped to the terminal
