"""Arbitrary bytes and text through every reader: each input ends in exactly one of three
outcomes, never a traceback: valid rows, invalid rows (with a reason), or one InputError line
(exit 2). No network: nothing here depends on the API."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from importer.config import ImportConfig
from importer.errors import InputError
from importer.prepare import prepare
from tests.helpers import examples

FUZZ = settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(path: Path) -> str:
    """'rows' when every row was read (valid or invalid), 'refused' for one clean line."""
    try:
        prepared = prepare(ImportConfig(input=path, dry_run=True, allow_empty=True))
        for item in prepared.mapped():
            assert item.payload is not None or item.problems or item.skipped, item
            if item.payload is not None:
                json.dumps(item.payload).encode("utf-8")  # what would be sent can be sent
    except InputError as exc:
        text = str(exc)
        assert text and "\n" not in text and "Traceback" not in text, text
        return "refused"
    return "rows"


_ROOT: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One directory of the test run's own for every example (hypothesis reruns a test body
    many times: a function-scoped tmp_path would be shared anyway)."""
    _ROOT[:] = [tmp_path_factory.mktemp("fuzz")]


def write_to(suffix: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="in-", dir=_ROOT[0]))
    path = folder / f"in{suffix}"
    path.write_bytes(data)
    return path


HEADER = b"id,name,email\n"
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=200)


@FUZZ
@given(body=st.binary(max_size=400))
def test_csv_bytes(body: bytes) -> None:
    assert outcome(write_to(".csv", HEADER + body)) in ("rows", "refused")


@FUZZ
@given(text=TEXT)
def test_csv_text(text: str) -> None:
    assert outcome(write_to(".csv", HEADER + text.encode("utf-8"))) in ("rows", "refused")


# Any code point, lone surrogates included (JSON's "\ud83d": half an emoji).
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=50)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


@FUZZ
@given(
    records=st.lists(st.dictionaries(st.sampled_from(["id", "name", "email", "x"]), JSON_VALUES), max_size=5)
)
def test_json_lines_records(records: list[dict[str, object]]) -> None:
    # json.dumps writes NaN, Infinity and lone surrogates as Python's json does: all of it must
    # come out as rows or one line.
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    assert outcome(write_to(".jsonl", lines.encode("utf-8"))) in ("rows", "refused")


@FUZZ
@given(body=st.binary(max_size=400))
def test_json_lines_bytes(body: bytes) -> None:
    assert outcome(write_to(".jsonl", b'{"id": "a"}\n' + body)) in ("rows", "refused")


@FUZZ
@given(body=st.binary(max_size=400), text=TEXT)
def test_json_array_bytes_and_text(body: bytes, text: str) -> None:
    assert outcome(write_to(".json", b'[{"id": "a"},' + body)) in ("rows", "refused")
    assert outcome(write_to(".json", ("[" + text).encode("utf-8"))) in ("rows", "refused")


CELL = st.one_of(
    TEXT, st.integers(-(10**18), 10**18), st.floats(allow_nan=False, allow_infinity=False), st.none()
)


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=4), max_size=4))
def test_xlsx_cells(rows: list[list[object]]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["id", "name", "email"])
    for row in rows:
        ws.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row])
    path = write_to(".xlsx", b"")
    wb.save(path)
    assert outcome(path) in ("rows", "refused")
