"""ImportConfig alone: every setting checked before any work, each refusal one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import MODES, ON_CONFLICT, ON_DUPLICATE, ImportConfig
from importer.errors import UsageError

X = Path("x.csv")


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"concurrency": 0}, "--concurrency"),
        ({"concurrency": "many"}, "--concurrency must be a whole number of at least 1, or auto"),
        ({"rate": 0.0}, "--rate"),
        ({"rate": "fast"}, "--rate must be a positive number of requests per second, or auto"),
        ({"baseline": "both"}, "--baseline must be one of auto, kelviq, journal"),
        ({"full": True, "baseline": "kelviq"}, "--full and --baseline kelviq"),
        ({"timeout": 0.0}, "--timeout"),
        ({"header_row": 0}, "--header-row counts from 1"),
        ({"mode": "merge"}, "--mode"),
        ({"on_duplicate": "any"}, "--on-duplicate"),
        ({"on_conflict": "unchanged"}, "--on-conflict applies to --mode create"),
        ({"limit": 0}, "--limit"),
        ({"max_failure_rate": 1.5}, "--max-failure-rate"),
        ({"full": True, "use_journal": False}, "--full and --no-journal"),
        ({"empty": "wipe"}, "--empty"),
        ({"api_key": ""}, "no API key"),
        ({"api_key": "a b"}, "cannot be sent in an HTTP header"),
        ({"base_url": "https://u:p@h.test/api"}, "user name or password"),
        ({"base_url": "https://h.test/api?x=1"}, "no ?query"),
        ({"base_url": "http://10.0.0.1/api"}, "plain http"),
        ({"base_url": "https://h.test:99999/api"}, "not a valid URL"),
    ],
)
def test_each_bad_setting_is_refused_with_the_option_named(kw: dict[str, object], says: str) -> None:
    args: dict[str, object] = {"input": X, "api_key": "k", **kw}
    with pytest.raises(UsageError, match=says.replace("?", r"\?")):
        ImportConfig(**args)  # type: ignore[arg-type]


def test_the_choices_are_the_ones_click_offers() -> None:
    from importer.cli import run

    options = {o.name: o for o in run.params}
    assert tuple(options["mode"].type.choices) == MODES  # type: ignore[attr-defined]
    assert tuple(options["on_conflict"].type.choices) == ON_CONFLICT  # type: ignore[attr-defined]
    assert tuple(options["on_duplicate"].type.choices) == ON_DUPLICATE  # type: ignore[attr-defined]


def test_the_key_is_kept_out_of_repr() -> None:
    assert "s3cr3t" not in repr(ImportConfig(input=X, api_key="s3cr3t"))


def test_auto_is_the_default_rate_and_concurrency_and_sizes_the_workers() -> None:
    auto = ImportConfig(input=X, api_key="k")
    assert (auto.rate, auto.concurrency, auto.workers) == ("auto", "auto", 128)
    assert ImportConfig(input=X, api_key="k", rate=None).workers == 8  # no rate to size from
    assert ImportConfig(input=X, api_key="k", concurrency=3).workers == 3


@pytest.mark.parametrize(
    ("args", "rate", "concurrency"),
    [
        ([], "auto", "auto"),
        (["--rate", "AUTO", "--concurrency", "12"], "auto", 12),
        (["--rate", "0"], 0.0, "auto"),
    ],
)
def test_the_command_line_takes_auto_or_a_number(args: list[str], rate: object, concurrency: object) -> None:
    from importer.cli import run

    params = run.make_context("run", ["x.csv", *args]).params
    assert (params["rate"], params["concurrency"]) == (rate, concurrency)


def test_a_rate_that_is_neither_auto_nor_a_number_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from importer.cli import main

    result = CliRunner().invoke(main, ["run", "x.csv", "--rate", "fast"])
    assert result.exit_code == 2 and "'fast' is not a valid float" in result.output


def test_the_library_reads_no_environment_and_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20, case 10: the library's message named KELVIQ_API_KEY, which it does not read."""
    monkeypatch.setenv("KELVIQ_API_KEY", "from-env")
    monkeypatch.setenv("KELVIQ_BASE_URL", "https://elsewhere.test/api/v1")
    with pytest.raises(UsageError, match=r"ImportConfig\(api_key=\.\.\.\) is empty"):
        ImportConfig(input=X)
    assert ImportConfig(input=X, api_key="k").base_url == "https://api.kelviq.com/api/v1"
