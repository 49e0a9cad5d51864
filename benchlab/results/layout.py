"""Where every file of a run folder is: the only module that names them (tests/test_run_layout.py checks).

    run.json               schema version, suite as loaded, host, harness version, devices, variants,
                           start and end (benchlab.results.store)
    measurements.jsonl     one JSON record per finished repeat, appended and fsync'ed as it finishes
    outputs/JOB.npz        a job's outputs on the evaluation inputs, one array per output name
                           (.npy, one array, before named outputs)
    inputs/MODEL.npz       the evaluation inputs by input name (.npy, one array, before named
                           inputs), and labels (inputs/MODEL.labels.npy)
    measurements.parquet,  the tidy tables of a finished run (one row per measurement, one per
    samples.parquet        iteration)
    run-summary.json       how many measurements the run holds, how many ok, on which devices: what
                           `benchlab history` lists, kept so a long history is listed without
                           reading every table (benchlab.results.run_summary)
    sustained/JOB.jsonl    a job's sustained session, one JSON record per window (benchlab.results.sustained)
    report.html, summary.json, latency.png, tradeoff.png, llm_decode.png, trend_latency.png,
    trend_size_accuracy.png, sustained.png
                           the report and its plots (benchlab.views.report, benchlab.views.trends)
    compare.junit.xml, compare.json, compare.md
                           the comparison with a baseline, for CI (benchlab.pipeline.gate)

A run folder is a direct child of its results root, named by its run id (`run_folder`); beside the
run folders, the results root holds noise-floor.json (`noise_file`), the calibrated run-to-run noise
floors (benchlab.nightly.noise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchlab.names import file_name

RUN_FILE = "run.json"
MEASUREMENTS_FILE = "measurements.jsonl"
MEASUREMENTS_PARQUET = "measurements.parquet"
SAMPLES_PARQUET = "samples.parquet"
RUN_SUMMARY_FILE = "run-summary.json"
INPUTS_DIR = "inputs"
OUTPUTS_DIR = "outputs"
REPORT_HTML = "report.html"
SUMMARY_JSON = "summary.json"
LATENCY_PNG = "latency.png"
TRADEOFF_PNG = "tradeoff.png"
LLM_DECODE_PNG = "llm_decode.png"
TREND_LATENCY_PNG = "trend_latency.png"
TREND_SIZE_ACCURACY_PNG = "trend_size_accuracy.png"
SUSTAINED_DIR = "sustained"
SUSTAINED_PNG = "sustained.png"
#: The CI files of a comparison with a baseline, by kind.
GATE_FILES = {"junit": "compare.junit.xml", "json": "compare.json", "markdown": "compare.md"}
#: The calibrated noise floors of a results root (beside its run folders).
NOISE_FILE = "noise-floor.json"


def noise_file(results_root: Path) -> Path:
    """Return the results root's file of calibrated noise floors."""
    return results_root / NOISE_FILE


def run_folder(results_root: Path, run_id: str) -> Path:
    """Return the folder of run `run_id` under a results root."""
    return results_root / run_id


def is_run_folder(path: Path) -> bool:
    """Return whether `path` is a run folder (it holds a run.json)."""
    return (path / RUN_FILE).is_file()


@dataclass(frozen=True)
class RunLayout:
    """The named paths of one run folder."""

    directory: Path

    @property
    def results_root(self) -> Path:
        """The results root the run is under: its suite's other runs and the noise floors are there."""
        return self.directory.parent

    @property
    def run_json(self) -> Path:
        """The run's metadata."""
        return self.directory / RUN_FILE

    @property
    def measurements_jsonl(self) -> Path:
        """One JSON record per finished repeat."""
        return self.directory / MEASUREMENTS_FILE

    @property
    def measurements_parquet(self) -> Path:
        """The tidy table of a finished run, one row per measurement."""
        return self.directory / MEASUREMENTS_PARQUET

    @property
    def samples_parquet(self) -> Path:
        """The tidy table of a finished run, one row per timed iteration."""
        return self.directory / SAMPLES_PARQUET

    @property
    def run_summary(self) -> Path:
        """The run's counts for the history listing (benchlab.results.run_summary)."""
        return self.directory / RUN_SUMMARY_FILE

    @property
    def inputs_dir(self) -> Path:
        """The folder of the evaluation inputs and labels."""
        return self.directory / INPUTS_DIR

    @property
    def outputs_dir(self) -> Path:
        """The folder of the jobs' outputs on the evaluation inputs."""
        return self.directory / OUTPUTS_DIR

    def eval_inputs(self, model: str) -> Path:
        """Return where a model's evaluation inputs are written (by input name, .npz)."""
        return self.inputs_dir / f"{file_name(model)}.npz"

    def stored_eval_inputs(self, model: str) -> Path | None:
        """Return a model's stored evaluation inputs: the .npz, else a .npy of a run from before named
        inputs; None when neither is there."""
        npz = self.eval_inputs(model)
        return next((p for p in (npz, npz.with_suffix(".npy")) if p.exists()), None)

    def labels(self, model: str) -> Path:
        """Return where a model's evaluation labels are (one .npy)."""
        return self.inputs_dir / f"{file_name(model)}.labels.npy"

    def outputs_file(self, job_id: str) -> str:
        """Return a job's outputs file relative to the run folder (as the measurement records it)."""
        return f"{OUTPUTS_DIR}/{file_name(job_id)}.npz"

    @property
    def sustained_dir(self) -> Path:
        """The folder of the sustained sessions, one file per job."""
        return self.directory / SUSTAINED_DIR

    def sustained_file(self, job_id: str) -> Path:
        """Return where a job's sustained session is stored (one JSON record per window)."""
        return self.sustained_dir / f"{file_name(job_id)}.jsonl"

    @property
    def sustained_png(self) -> Path:
        """The sustained-mode curve of the report."""
        return self.directory / SUSTAINED_PNG

    @property
    def report_html(self) -> Path:
        """The self-contained HTML report."""
        return self.directory / REPORT_HTML

    @property
    def summary_json(self) -> Path:
        """The report table as JSON."""
        return self.directory / SUMMARY_JSON

    @property
    def latency_png(self) -> Path:
        """The latency plot of the report."""
        return self.directory / LATENCY_PNG

    @property
    def tradeoff_png(self) -> Path:
        """The size vs latency plot of the report."""
        return self.directory / TRADEOFF_PNG

    @property
    def llm_decode_png(self) -> Path:
        """The decode tok/s vs size plot of the report's language-model section."""
        return self.directory / LLM_DECODE_PNG

    @property
    def trend_latency_png(self) -> Path:
        """The latency-over-runs plot."""
        return self.directory / TREND_LATENCY_PNG

    @property
    def trend_size_accuracy_png(self) -> Path:
        """The size-and-accuracy-over-runs plot."""
        return self.directory / TREND_SIZE_ACCURACY_PNG

    @property
    def gate_files(self) -> dict[str, Path]:
        """The CI files of a comparison with a baseline, by kind: junit, json, markdown."""
        return {kind: self.directory / name for kind, name in GATE_FILES.items()}
