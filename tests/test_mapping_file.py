"""The mapping file out: init-mapping's draft reads back as exactly what was guessed, and finds
the header under title lines. No network: nothing here depends on the API."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.cli import main
from importer.mapping import Mapping
from importer.mapping_file import draft_mapping, load_mapping
from importer.readers import REPORT_COLUMNS
from tests.helpers import examples, write

# Header cells as exports make them, and as an attacker would: quotes, backslashes, line
# breaks, TOML of their own ("x"\n[metadata]\nevil = "y"), control characters, braces.
CELLS = st.one_of(
    st.sampled_from(["Customer ID", "E-Mail", "Name", "City", "Land", "PLZ", "first name", "Last Name"]),
    st.text(min_size=1, max_size=30),
    st.sampled_from(['x"\n[metadata]\nevil = "y', "a\\b", "{x}", "tab\there", "\x7f", "\r\n"]),
)


@settings(max_examples=examples(300), deadline=None)
@given(columns=st.lists(CELLS, min_size=1, max_size=8, unique=True), source=st.text(max_size=20))
def test_every_draft_loads_back_and_maps_only_what_was_guessed(
    tmp_path_factory: pytest.TempPathFactory, columns: list[str], source: str
) -> None:
    columns = [c for c in columns if c not in REPORT_COLUMNS] or ["id"]
    text = draft_mapping(tuple(columns), source)
    data = tomllib.loads(text)  # never a TOML error, whatever the header holds
    assert data.get("metadata", {}) == {} and data.get("static_metadata", {}) == {}
    path = tmp_path_factory.mktemp("draft") / "m.toml"
    path.write_text(text, encoding="utf-8")
    drafted = load_mapping(path)
    guessed = Mapping.guess(tuple(columns))
    assert {t: s.columns for t, s in drafted.fields.items()} == {
        t: s.columns for t, s in guessed.fields.items()
    }
    assert drafted.metadata == {} and drafted.static_metadata == {}


def cli(*args: str | Path):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_init_mapping_finds_the_header_under_title_lines(tmp_path: Path) -> None:
    """Issue 20, case 8: the draft once mapped nothing and exited 0."""
    source = write(
        tmp_path / "export.csv",
        "Customer export;;\nAs of 2026-11-01;;\n\nCustomer ID;Email;Company\nc1;a@b.co;Acme\n",
    )
    draft = cli("init-mapping", source)
    assert draft.exit_code == 0, draft.output
    assert "header_row = 4" in draft.output and 'customerId = "Customer ID"' in draft.output
    mapping = write(tmp_path / "m.toml", draft.output)
    assert cli("validate", source, "--mapping", mapping, "--report-dir", tmp_path / "r").exit_code == 0


def test_init_mapping_refuses_a_draft_that_would_map_nothing(tmp_path: Path) -> None:
    source = write(tmp_path / "odd.csv", "Alpha,Beta\n1,2\n3,4\n")
    draft = cli("init-mapping", source)
    assert draft.exit_code == 2
    assert draft.output.count("\n") == 1 and "--header-row N" in draft.output, draft.output


def test_a_header_over_two_lines_drafts_the_line_it_starts_on(tmp_path: Path) -> None:
    """Issue 21, case 17: the draft's header_row was the line the header ends on, so the draft
    could not read its own file."""
    source = write(tmp_path / "two.csv", 'Export\n"Customer\nID",Email\nc1,a@b.co\n')
    draft = cli("init-mapping", source)
    assert draft.exit_code == 0 and "header_row = 2" in draft.output, draft.output
    mapping = write(tmp_path / "m.toml", draft.output)
    assert load_mapping(mapping).fields["customerId"].columns == ("Customer\nID",)
    checked = cli("validate", source, "--mapping", mapping, "--report-dir", tmp_path / "r")
    assert checked.exit_code == 0, checked.output
