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
        ({"rate": 0.0}, "--rate"),
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
