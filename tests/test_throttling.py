"""A run against an API that throttles, with the defaults (`--rate auto --concurrency auto`):
every row lands once, and the summary, report.html and progress say what limit was found.

API behaviour relied on: over its limit the API answers 429 with Retry-After (the sandbox's
token bucket holding one second, as DRF's throttles roughly do). Speed figures are not asserted
here: they are in `make bench` (bench/RESULTS.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.config import ImportConfig
from importer.console import print_summary
from importer.pipeline import run_import
from importer.progress import LiveProgress
from importer.sandbox import DEFAULT_KEY, SandboxOptions, SandboxServer
from importer.timeline import Timeline
from tests.test_nightly import make_csv

pytestmark = pytest.mark.e2e


def test_auto_finds_the_limit_and_every_row_lands_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_csv(tmp_path / "in.csv", 400)
    timeline = Timeline()
    with SandboxServer(SandboxOptions(rate_limit=60)) as server:
        config = ImportConfig(
            input=source, base_url=server.base_url, api_key=DEFAULT_KEY, use_journal=False,
            report_dir=tmp_path / "report",
        )  # fmt: skip
        assert (config.rate, config.concurrency) == ("auto", "auto")
        summary = run_import(config, timeline=timeline)
        assert max(server.app.creates_by_id.values()) == 1
        refused = server.app.requests["429"]
    assert summary.counts == {"created": 400}
    # Slow start overshot the limit, was told so, and settled near what the API accepts.
    assert refused >= 1 and summary.throttled == refused
    assert summary.rate_limit_found is not None and 30 <= summary.rate_limit_found <= 150
    assert summary.rate_final is not None and summary.rate_final <= 1.1 * summary.rate_limit_found
    saved = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert saved["rate_limit_found"] == summary.rate_limit_found and saved["throttled"] == refused
    html = (tmp_path / "report" / "report.html").read_text()
    assert "rate aimed at" in html and f"found to accept about {summary.rate_limit_found:g}/s" in html
    print_summary(summary)  # what `run` prints at the end
    assert f"the API accepted about {summary.rate_limit_found:g}/s; {refused} answers throttled" in (
        capsys.readouterr().err
    )
    # What a person watching saw on the last refresh: the rate aimed at and the limit found.
    live = LiveProgress(timeline, "in.csv")
    live._update()
    assert "aiming at" in live._status and "API limit found" in live._status and "throttled" in live._status
