"""`benchlab --help` and `benchlab devices` stay fast: they must not import TensorFlow or coremltools,
nor Dask unless a farm is named."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = (
    "import sys\n"
    "from benchlab.cli import main\n"
    "try:\n"
    "    main({argv!r})\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = sorted(m for m in ('tensorflow', 'keras', 'coremltools', 'distributed') if m in sys.modules)\n"
    "print('HEAVY=' + ','.join(heavy))\n"
)


@pytest.mark.parametrize("argv", [["devices"], ["--help"], ["run", "--help"]])
def test_light_commands_do_not_import_heavy_libraries(argv: list[str]) -> None:
    result = subprocess.run([sys.executable, "-c", CHECK.format(argv=argv)], capture_output=True, text=True,
                            timeout=120)
    assert "HEAVY=\n" in result.stdout, result.stdout + result.stderr


def test_help_lists_commands_in_workflow_order() -> None:
    result = subprocess.run([sys.executable, "-m", "benchlab.cli", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    order = [result.stdout.index(f"    {name}") for name in ("devices", "tools", "optimize", "run", "report")]
    assert order == sorted(order)
