"""The results store: results/<run_id>/ with run.json and one record per finished repeat.

The run folder's files are named in benchlab.results.layout (RunLayout), the only module that names them;
run.json is read and written as benchlab.results.run_meta.RunMeta.

Writing goes through `RunStore`; reading goes through `benchlab.results.run_record.RunRecord.load()`,
which uses the readers here once and returns one immutable record of the run that report,
check, compare, history and trends take as data.

Schema history (bump SCHEMA_VERSION and migrate in `_migrate` when a record changes shape):
    1  first version: one Measurement record per job (all repeats in it), latencies in
       microseconds, accuracy in percent, accuracy_delta in percentage points.
    2  one record per repeat: `repeat` and `slot` (its place in the interleaved round) and
       `failure_cause`; accuracy and fidelity are no longer stored but computed when loading.
       A version 1 record reads as repeat 0 holding all of its repeats.
    3  a variant may carry `lineage` (the steps that made it: a training recipe's trained .keras,
       a chain's steps), and a suite's variant `then` (the next step of a chain). Version 1 and 2
       records read as variants without lineage; an older benchlab refuses version 3 by its number.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchlab.errors import DiskFull, StoreError, first_line, is_disk_full
from benchlab.results.layout import RUN_FILE, RunLayout, is_run_folder
from benchlab.results.run_meta import RunMeta
from benchlab.records import (
    AcceleratorSetting,
    Conditions,
    DeviceInfo,
    Fidelity,
    OutputFidelity,
    Measurement,
    Variant,
)

if TYPE_CHECKING:
    import numpy as np

    from benchlab.tensors import Feeds

    from benchlab.results.run_record import RunRecord

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
READABLE_SCHEMA_VERSIONS = (1, 2, 3)
#: Where results go when no --results is given.
DEFAULT_RESULTS = Path("results")


class RunExists(StoreError):
    """A run directory of that name exists already."""


class RunBusy(StoreError):
    """Another benchlab process is running or resuming this run."""


def measurement_to_record(measurement: Measurement) -> dict[str, Any]:
    """Return a JSON-ready dict of a measurement (outputs excluded; they go to their own file)."""
    record = asdict(measurement)
    record.pop("outputs", None)
    record.pop("repeat_values", None)  # derived from the repeat records when they are combined
    record["schema_version"] = SCHEMA_VERSION
    return record


#: Fields every reader relies on the type of (sorts repeats, counts them, keys jobs); a record whose
#: values are otherwise of the wrong type fails where it is built into a Measurement.
_TYPED_FIELDS: dict[str, type | tuple[type, ...]] = {"job_id": str, "status": str, "repeat": int}


def _fidelity(stored: dict[str, Any]) -> Fidelity:
    """Return a stored fidelity with its per-output figures as OutputFidelity again (JSON keeps dicts)."""
    outputs = tuple(OutputFidelity(**output) for output in stored.get("outputs") or ())
    return Fidelity(**{**stored, "outputs": outputs})


def conditions_from_json(raw: dict[str, Any] | None) -> Conditions | None:
    """Return stored conditions as the record again (fields a newer benchlab added are left out); None for none."""
    if not raw:
        return None
    known = {f.name for f in fields(Conditions)}
    return Conditions(**{k: v for k, v in raw.items() if k in known})


def measurement_from_record(record: dict[str, Any]) -> Measurement:
    """Rebuild a Measurement from a stored record.

    Raises StoreError for an unknown schema version; TypeError, KeyError or ValueError for JSON that
    is not a record (a list, a record missing a field, a field of the wrong type).
    """
    if not isinstance(record, dict):
        raise TypeError(f"a JSON object expected, got {type(record).__name__}")
    record = _migrate(dict(record))
    for key, kind in _TYPED_FIELDS.items():
        if not isinstance(record.get(key), kind) or isinstance(record.get(key), bool):
            raise TypeError(f"{key} is {record.get(key)!r}")
    names = {f.name for f in fields(Measurement)}
    values = {k: v for k, v in record.items() if k in names}
    values["variant"] = Variant(**record["variant"])
    values["device"] = DeviceInfo(**record["device"])
    values["accelerator"] = AcceleratorSetting(**record["accelerator"])
    values["fidelity"] = _fidelity(record["fidelity"]) if record.get("fidelity") else None
    values["conditions_before"] = conditions_from_json(record.get("conditions_before"))
    values["conditions_after"] = conditions_from_json(record.get("conditions_after"))
    values["warmup_us"] = tuple(record.get("warmup_us") or ())
    values["samples_us"] = tuple(tuple(r) for r in record.get("samples_us") or ())
    values["flags"] = tuple(record.get("flags") or ())
    values["runner_stats"] = tuple(record.get("runner_stats") or ())
    values["op_profile"] = tuple(record.get("op_profile") or ())
    return Measurement(**values)


def _migrate(record: dict[str, Any]) -> dict[str, Any]:
    found = record.pop("schema_version", None)
    if found not in READABLE_SCHEMA_VERSIONS:
        raise StoreError(
            f"measurement record has schema version {found!r}; this benchlab reads versions "
            f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}",
            hint="open it with the benchlab version that wrote it (see run.json harness_version)",
        )
    if found == 1:  # one record per job: it reads as repeat 0, scored again when loaded
        for stored_score in ("accuracy_metric", "accuracy", "accuracy_delta", "fidelity"):
            record.pop(stored_score, None)
    return record


def check_results_root(root: Path) -> None:
    """Make sure runs can be created under `root`, before any work starts, writing nothing.

    The nearest folder of `root` that exists must be a folder we can create entries in: a probe
    folder is made there and removed at once (a permission check alone would pass for root on a
    read-only file system). Raises StoreError naming the folder when it cannot be used.
    """
    import tempfile

    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StoreError(f"results folder {root}: {existing} is a file, not a folder", hint="pass --results FOLDER")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".benchlab-probe-", dir=existing))
    except OSError as exc:
        raise StoreError(f"results folder {root} cannot be created in {existing}: {exc.strerror}",
                         hint="pass --results FOLDER with a folder you can write to") from None


class RunStore:
    """Writes one run's directory: run.json, evaluation inputs, repeat records appended crash-safely."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.layout = RunLayout(directory)
        self._lock = threading.Lock()  # one writer per device thread
        self._tail_checked = False
        self._appended = 0

    @property
    def run_id(self) -> str:
        """The run id: the directory's name."""
        return self.directory.name

    def create(self, run_meta: RunMeta) -> None:
        """Create the directory and write run.json (of this schema version, under this run's id).

        Raises StoreError when the run already exists or the results folder cannot be written.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=False)
            self.layout.outputs_dir.mkdir()
            self.layout.inputs_dir.mkdir()
        except FileExistsError:
            raise RunExists(f"{self.directory} already exists", hint="use --resume to finish a run") from None
        except NotADirectoryError:
            raise StoreError(f"results folder {self.layout.results_root} is a file, not a folder",
                             hint="pass --results FOLDER") from None
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFull(f"disk full at {self.directory}", hint="free space and run the suite again") from None
            raise StoreError(f"cannot create {self.directory}: {exc.strerror}",
                             hint="pass --results FOLDER with a folder you can write to") from None
        try:
            self.write_meta(replace(run_meta, schema_version=SCHEMA_VERSION, run_id=self.run_id))
        except DiskFull:
            self.remove()
            raise

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the run for this process while it measures into it.

        Two `run --resume RUN` at once would both measure the missing repeats and store them twice.
        The lock is the kernel's (flock on the run folder), so a killed holder never blocks the next.
        Raises RunBusy when another process holds it.
        """
        import fcntl

        handle = os.open(self.directory, os.O_RDONLY)
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunBusy(f"{self.directory} is being measured by another benchlab process",
                              hint="wait for it to finish; then resume the run if it was stopped") from None
            yield
        finally:
            os.close(handle)  # releases the lock

    def remove(self) -> None:
        """Delete the run folder: only for a run that has measured nothing (a setup the disk cut short)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    @contextmanager
    def _replacing(self, path: Path) -> Iterator[Path]:
        """Yield a temporary path to write `path`'s content to; it replaces `path` in one rename when
        written whole, so a reader never sees half a file. Raises DiskFull naming `path` when the
        disk fills (the temporary file is removed)."""
        partial = path.with_name(f"{path.stem}.partial{path.suffix}")  # np.save* keep a .npz/.npy suffix
        try:
            yield partial
            os.replace(partial, path)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            if not is_disk_full(exc):
                raise
            raise DiskFull(f"disk full at {path}", hint=f"free space and finish the run with "
                                                        f"`benchlab run --resume {self.directory}`") from None

    def write_meta(self, meta: RunMeta) -> None:
        """Replace run.json atomically; raise DiskFull when the disk fills (the old run.json stays)."""
        with self._replacing(self.layout.run_json) as partial:
            partial.write_text(json.dumps(meta.to_json(), indent=2, default=str))

    def read_meta(self) -> RunMeta:
        """Return run.json's record; raise StoreError when missing, damaged or of an unknown schema version."""
        return read_run_meta(self.directory)

    def write_eval_inputs(self, model: str, inputs: Feeds, labels: np.ndarray | None) -> str:
        """Store a model's evaluation inputs by input name (and labels); return the inputs' path for runners.

        Raises DiskFull when the disk fills (no partial file is left).
        """
        import numpy as np

        from benchlab.tensors import save_feeds

        path = self.layout.eval_inputs(model)
        with self._replacing(path) as partial:
            save_feeds(partial, inputs)
        if labels is not None:
            with self._replacing(self.layout.labels(model)) as partial:
                np.save(partial, labels)
        return str(path)

    def eval_inputs(self, models: Iterable[str]) -> dict[str, str]:
        """Return the stored evaluation inputs' path of each model that has them (for a resumed run;
        a run from before named inputs has one .npy per model)."""
        return {model: str(path) for model in models if (path := self.layout.stored_eval_inputs(model)) is not None}

    def append(self, measurement: Measurement) -> Measurement:
        """Write the outputs file and append the record, flushed and fsync'ed; return it as stored.

        Raises DiskFull when the disk fills (the partial record is cut, what was stored is kept).
        """
        try:
            if measurement.outputs is not None:
                from benchlab.tensors import save_feeds

                outputs_file = self.layout.outputs_file(measurement.job_id)
                with self._replacing(self.directory / outputs_file) as partial:
                    save_feeds(partial, measurement.outputs)
                measurement = replace(measurement, outputs_file=outputs_file, outputs=None)
            line = json.dumps(measurement_to_record(measurement), default=str)
            with self._lock:
                if not self._tail_checked:
                    self._drop_torn_tail()
                    self._tail_checked = True
                self._write_line(line)
                self._appended += 1
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self._drop_torn_tail()
            raise DiskFull(f"disk full at {self.layout.measurements_jsonl}: {self._appended} repeat(s) of "
                           "this session kept",
                           hint=f"free space and resume with `benchlab run --resume {self.directory}`") from None
        return measurement

    def append_many(self, measurements: Iterable[Measurement]) -> int:
        """Append records without outputs in one write and one fsync; return how many were written.

        For importing many finished repeats at once (a generated or migrated history), where one fsync
        per record would cost more than the records. Raises ValueError for a measurement that holds
        outputs (they go through `append`), DiskFull as `append` does.
        """
        lines = []
        for measurement in measurements:
            if measurement.outputs is not None:
                raise ValueError(f"{measurement.job_id} holds outputs: store it with append()")
            lines.append(json.dumps(measurement_to_record(measurement), default=str))
        if not lines:
            return 0
        try:
            with self._lock:
                if not self._tail_checked:
                    self._drop_torn_tail()
                    self._tail_checked = True
                self._write_line("\n".join(lines))
                self._appended += len(lines)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self._drop_torn_tail()
            raise DiskFull(f"disk full at {self.layout.measurements_jsonl}",
                           hint=f"free space and resume with `benchlab run --resume {self.directory}`") from None
        return len(lines)

    def _drop_torn_tail(self) -> None:
        """Cut a record a crash left half-written, so the next record starts on its own line."""
        path = self.layout.measurements_jsonl
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as handle:
            data = handle.read()
            if data.endswith(b"\n"):
                return
            log.warning("%s: dropping an incomplete last record (interrupted write)", path)
            handle.truncate(data.rfind(b"\n") + 1)

    def _write_line(self, line: str) -> None:
        with open(self.layout.measurements_jsonl, "a") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def repeat_records(self) -> list[Measurement]:
        """Return every stored repeat record in the order written; a torn last line is skipped."""
        return read_repeat_records(self.directory)

    def progress(self, retry_failed: bool = False) -> tuple[set[tuple[str, int]], set[str]]:
        """Return what a resumed run must not run again: finished (job_id, repeat) pairs, and jobs
        that failed for a reason of the model (none of their repeats run again).

        A repeat that failed for a reason of the device or harness (lost, killed, timed out,
        interrupted, skipped) is not finished. With `retry_failed`, model failures are not either.
        """
        latest = {(r.job_id, r.repeat): r for r in self.repeat_records()}
        done = {key for key, r in latest.items() if r.status == "ok" or (not r.retryable and not retry_failed)}
        dead = {r.job_id for r in latest.values() if r.status != "ok" and not r.retryable and not retry_failed}
        return done, dead

    def finish(self, finished_at: str) -> RunRecord:
        """Export the tidy tables as Parquet and the run's summary (benchlab.results.run_summary), then
        mark the run finished; return the run's record.

        Raises DiskFull when the disk fills: no partial table is left and the run is not marked
        finished, so `--resume` finishes it once there is space.
        """
        from benchlab.results.run_record import RunRecord
        from benchlab.results.run_summary import summary_text

        record = RunRecord.load(self.directory)
        for path, table in ((self.layout.measurements_parquet, record.results),
                            (self.layout.samples_parquet, record.samples)):
            with self._replacing(path) as partial:
                table.to_parquet(partial, index=False)
        with self._replacing(self.layout.run_summary) as partial:  # what `benchlab history` lists
            partial.write_text(summary_text(self.directory, record.results))  # stamped with the table just written
        self.write_meta(replace(self.read_meta(), finished_at=finished_at))
        return record


def read_repeat_records(directory: Path) -> list[Measurement]:
    """Return the repeat records of a run directory; raise StoreError on a corrupt record."""
    path = RunLayout(directory).measurements_jsonl
    if not path.exists():
        return []
    found: list[Measurement] = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("%s: last record is incomplete (interrupted write); ignored", path)
                continue
            raise StoreError(f"{path}:{number}: not a JSON record") from None
        try:
            found.append(measurement_from_record(record))
        except (TypeError, KeyError, ValueError, AttributeError) as exc:  # JSON, but not a record
            raise StoreError(f"{path}:{number}: not a measurement record ({first_line(exc)})",
                             hint="remove or repair that line") from None
    return found


def read_run_meta(directory: Path) -> RunMeta:
    """Return the record of a run's run.json; raise StoreError when it is missing, damaged or of an
    unknown schema version."""
    path = RunLayout(directory).run_json
    if not path.is_file():
        raise StoreError(f"{directory} is not a benchlab run (no {RUN_FILE})",
                         hint="pass a results/<run_id> directory")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: not JSON ({first_line(exc)})", hint="the run's run.json is damaged") from None
    if not isinstance(raw, dict):
        raise StoreError(f"{path}: not a run record (a JSON object expected)", hint="the run's run.json is damaged")
    if raw.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        raise StoreError(f"{path}: schema version {raw.get('schema_version')!r} is not one of "
                         f"{', '.join(map(str, READABLE_SCHEMA_VERSIONS))}")
    try:
        return RunMeta.from_json(raw)
    except ValueError as exc:
        raise StoreError(f"{path}: not a run record ({first_line(exc)})", hint="the run's run.json is damaged") from None


def run_directories(path: Path | str) -> list[Path]:
    """Return the run directories at `path`: itself if it is a run, else its runs, oldest first."""
    root = Path(path)
    if is_run_folder(root):
        return [root]
    if not root.is_dir():
        raise StoreError(f"{root} does not exist")
    runs = sorted(p for p in root.iterdir() if is_run_folder(p))
    if not runs:
        raise StoreError(f"{root} holds no benchlab runs")
    return runs
