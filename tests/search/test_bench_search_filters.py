"""The filtered-search benchmark runs (smoke size) and measures what production does."""

from __future__ import annotations

import pytest

from bench.search_filters import run
from pixseek.index.factory import RECALL_TARGET


@pytest.mark.slow
def test_filtered_search_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    # The run itself asserts that SearchService.search returns what its production path returns.
    result = run.main(["--smoke"])
    out = capsys.readouterr().out
    assert "| 50.0% | 10,000 | above |" in out and "| region | 10.0% |" in out
    assert [row["below_exact_max"] for row in result["random"]] == [True, False, False, False]
    assert all(row["production"]["recall"] >= RECALL_TARGET for row in result["random"])
    assert all(row["now"]["recall_min"] >= RECALL_TARGET for row in result["index_only"])
