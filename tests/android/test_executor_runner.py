"""executor_runner's output: real recordings from public threads (tests/android/public/, README rows) and the
per-iteration lines in the format examples/portable/executor_runner/executor_runner.cpp prints them."""

from __future__ import annotations

from pathlib import Path

from android_runner.executor_runner import kill_command, parse_output, run_command

PUBLIC = Path(__file__).with_name("public")


def test_an_old_runner_s_total_is_not_taken_for_samples() -> None:
    parsed = parse_output((PUBLIC / "executor_runner_et1231_posix_total_only.txt").read_text())
    assert parsed.iterations_ms == () and parsed.load_ms is None and parsed.executed == 1 and parsed.error is None
    assert parsed.problem is not None and "printed no per-iteration times (it predates them)" in parsed.problem


def test_a_run_that_stopped_after_preparing_inputs_has_no_numbers() -> None:
    parsed = parse_output((PUBLIC / "executor_runner_et3919_hangs_after_inputs.txt").read_text())
    assert (parsed.iterations_ms, parsed.executed, parsed.error) == ((), None, None)
    assert "printed neither timings nor an error" in parsed.problem


def test_an_android_build_prints_only_the_output_summary_on_stdout() -> None:
    parsed = parse_output((PUBLIC / "executor_runner_et15547_android_stdout_cut.txt").read_text())
    assert (parsed.iterations_ms, parsed.load_ms, parsed.executed, parsed.error) == ((), None, None, None)


def test_per_iteration_lines_in_posix_and_logcat_form() -> None:
    # executor_runner.cpp's format strings ("Model loaded in %f ms.", "Iteration %u of %u: %f ms", "Model
    # executed successfully %u time(s) in %f ms."), as the POSIX layer prefixes them and as logcat shows them.
    posix = ("I 00:00:00.001201 executorch:executor_runner.cpp:626] Model loaded in 4.120000 ms.\n"
             "I 00:00:00.004300 executorch:executor_runner.cpp:780] Iteration 1 of 2: 3.100000 ms\n"
             "I 00:00:00.007260 executorch:executor_runner.cpp:780] Iteration 2 of 2: 2.950000 ms\n"
             "I 00:00:00.004320 executorch:executor_runner.cpp:789] Model executed successfully 2 time(s) in 6.050000 ms.\n")
    logcat = "\n".join(line.replace(line[:line.index("] ") + 2], "12-07 10:00:00.100  4242  4242 I ExecuTorch: ")
                       for line in posix.splitlines())
    for text in (posix, logcat):
        parsed = parse_output(text)
        assert parsed.iterations_ms == (3.1, 2.95) and parsed.load_ms == 4.12 and parsed.executed == 2
        assert parsed.problem is None


def test_a_failed_execution_is_named() -> None:
    text = ("E 00:00:00.010000 executorch:executor_runner.cpp:770] Execution of method forward failed with "
            "status 0x12\n")
    assert parse_output(text).problem == "executor_runner failed: Execution of method forward failed with status 0x12"


def test_the_command_names_its_output_files_so_the_job_can_be_killed() -> None:
    command = run_command("/data/local/tmp/benchlab/executor_runner", "/data/local/tmp/benchlab/m.pte", 2, 6,
                          "/data/local/tmp/benchlab/out-job1", ["/data/local/tmp/benchlab/a.bin"])
    assert "--num_executions=6 --cpu_threads=2 --print_output=none" in command
    assert "--output_file=/data/local/tmp/benchlab/out-job1 --inputs=/data/local/tmp/benchlab/a.bin" in command
    assert kill_command("/data/local/tmp/benchlab/out-job1") == \
        "pkill -9 -f '[-]-output_file=/data/local/tmp/benchlab/out-job1'; true"
