"""Free-text names reach the report verbatim: matplotlib's math mode and HTML must not eat them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchlab.views.report import build_report
from tests.test_compare import measurement, night, repeats


def test_dollar_signs_and_markup_in_names_are_shown_as_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = "ssd $x^$ <b>mobile</b>"  # not valid math: matplotlib's math mode would raise
    run = night(tmp_path, "run", 1, measurement(repeats(rng), model=model, variant="fp32", recipe="fp32",
                                                 accuracy_delta=0.0),
                measurement(repeats(rng), model=model, variant="int8 v$_$", size_bytes=1_000_000))
    files, table = build_report(run)
    page = files.html.read_text()
    assert "ssd $x^$ &lt;b&gt;mobile&lt;/b&gt;" in page and "<b>mobile</b>" not in page
    assert files.tradeoff_plot.stat().st_size > 10_000 and files.latency_plot.stat().st_size > 10_000
    assert set(table["model"]) == {model}
