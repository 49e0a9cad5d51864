"""Free-text names reach the report verbatim: matplotlib's math mode and HTML must not eat them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from benchlab.commands.report import report_run
from tests.test_compare import measurement, night, repeats


def test_dollar_signs_and_markup_in_names_are_shown_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = "ssd $x^$ <b>mobile</b>"  # not valid math: matplotlib's math mode would raise
    run = night(tmp_path, "run", 1, measurement(repeats(rng), model=model, variant="fp32", recipe="fp32",
                                                 accuracy_delta=0.0),
                measurement(repeats(rng), model=model, variant="int8 v$_$", size_bytes=1_000_000))
    report = report_run(run)
    files, table = report.files, report.table
    page = files.html.read_text()
    assert "ssd $x^$ &lt;b&gt;mobile&lt;/b&gt;" in page and "<b>mobile</b>" not in page
    assert files.tradeoff_plot.stat().st_size > 10_000 and files.latency_plot.stat().st_size > 10_000
    assert set(table["model"]) == {model}


def _a_run_with_long_names(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    variants = [("fp32", "fp32"), ("prune-50+full-int8", "prune"), ("coreml-palettize-4bit", "coreml-palettize"),
                ("dynamic-int8", "dynamic-int8")]
    return night(tmp_path, "run", 1, *(measurement(repeats(rng), variant=name, recipe=recipe, accelerator="cpu-t4-noxnnpack",
                                                   accuracy_delta=0.0 if recipe == "fp32" else -0.4)
                                       for name, recipe in variants))


def unmeasured_columns() -> set[str]:
    """The terminal columns of metrics only some runs measure (energy, language-model rates)."""
    from benchlab.metrics import registered

    return {c for m in registered() if m.terminal_when_measured for c in m.terminal_cells}


@pytest.mark.parametrize("width", [80, 120])
def test_the_results_table_fits_the_terminal_with_every_header_whole(width: int, tmp_path: Path) -> None:
    from rich.console import Console

    from benchlab.views.report import print_table, terminal_columns

    table = report_run(_a_run_with_long_names(tmp_path)).table
    console = Console(width=width, file=io.StringIO(), color_system=None)
    print_table(table, console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines) and "…" not in text  # nothing cut
    header = next(line for line in lines if "variant" in line)
    shown = [c for c in terminal_columns() if c in header]
    assert {"variant", "median ms", "accuracy %", "pick"} <= set(shown) and "cpu-t4-noxnnpack" in text
    note = " ".join(text[text.index("left out to fit"):].split())  # wrapped at the terminal's width
    # energy and the language-model rates were not measured: left out for saying nothing, not for the width
    assert all(c in note.split(" (--wide")[0]
               for c in set(terminal_columns()) - set(shown) - {"model", "where"} - unmeasured_columns())


def test_wide_prints_every_column_whole(tmp_path: Path) -> None:
    from rich.console import Console

    from benchlab.views.report import print_table, terminal_columns

    table = report_run(_a_run_with_long_names(tmp_path)).table
    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_table(table, wide=True, console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "…" not in text and "left out" not in text
    # one device: in the title; energy and the language-model rates were not measured: left out
    assert all(c in text for c in terminal_columns() if c not in {"model", "where"} | unmeasured_columns())
    assert "mJ/inf" not in text and "decode tok/s" not in text


def test_a_refusal_shared_by_many_jobs_is_said_once_whole(tmp_path: Path, tiny_tflite_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    """As `make demo`'s Core ML variants on a Linux host: every such job is refused for one reason."""
    import yaml

    from benchlab.cli import main

    np.savez(tmp_path / "data.npz", inputs=np.zeros((4, 28, 28, 1), np.float32))
    suite = {"name": "refused", "models": [{"name": "m", "path": str(tiny_tflite_path)}],
             "dataset": {"npz": "data.npz"}, "variants": ["tflite", "fp16", "dynamic-int8"],
             "accelerators": [{"kind": "cpu", "threads": 1}, {"kind": "gpu"}],
             "scenario": {"warmup": 0, "iterations": 2, "repeats": 2}}
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(tmp_path / "suite.yaml"), "--results", str(tmp_path / "results")]) == 0
    out, err = capsys.readouterr()
    said = " ".join((out + err).split())  # rich wraps long lines at the terminal's width
    assert said.count("accelerator 'gpu' is not available on this device") == 1, out + err


def test_a_table_without_an_ok_row_still_prints(tmp_path: Path) -> None:
    from rich.console import Console

    from benchlab.views.report import print_table

    rng = np.random.default_rng(3)
    run = night(tmp_path, "run", 1, measurement(repeats(rng), status="failed", error="custom op Betainc"))
    table = report_run(run).table
    console = Console(width=80, file=io.StringIO(), color_system=None)
    print_table(table, console=console)
    assert "failed: custom op Betainc" in console.file.getvalue()  # type: ignore[attr-defined]
