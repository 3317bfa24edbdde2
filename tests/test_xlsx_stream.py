"""The streamed .xlsx reader against calamine, which reads the same workbooks whole.

calamine stays the reader of .xls and .ods, and here it is the oracle: whatever cells a workbook
holds (shared or inline strings, numbers, dates, booleans, written by xlsxwriter as Excel does
or by openpyxl), both readers must show the same text for every cell. The fast path of
xlsx_stream (one regular expression per cell) must give way to the XML parser wherever the
XML is laid out otherwise, without losing or repeating a row. No API is involved.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import InputError
from importer.readers import excel, open_table
from importer.readers.excel import _CalamineSheet, _cell_text, _StreamedSheet
from tests.helpers import examples

SheetText = list[tuple[int, dict[int, str]]]
Writer = Callable[[Path, list[list[object]]], None]


def streamed(path: Path, sheet: str | None = None) -> SheetText:
    ws = _StreamedSheet.open(path, sheet)
    try:
        return [(n, {c: _cell_text(v) for c, v in cells.items()}) for n, cells in ws.rows()]
    finally:
        ws.close()


def by_calamine(path: Path, sheet: str | None = None) -> SheetText:
    ws = _CalamineSheet.open(path, sheet)
    return [(n, {c: _cell_text(v) for c, v in cells.items()}) for n, cells in ws.rows()]


TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"), max_size=12
) | st.sampled_from(["a & b", "<tag>", '"quoted"', "  spaced  ", "_x000D_", "Ünïcødé", "=1+1", "0042"])
VALUE = st.one_of(
    TEXT,
    st.integers(-(10**15), 10**15),
    st.floats(min_value=-1e15, max_value=1e15, allow_nan=False),
    st.booleans(),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2200, 1, 1)),
    st.none(),
)
GRID = st.lists(st.lists(VALUE, min_size=1, max_size=5), min_size=1, max_size=6)


def write_xlsxwriter(path: Path, grid: list[list[object]]) -> None:
    """Shared strings, dimension and spans, as Excel itself writes a workbook."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    sheet = book.add_worksheet("Data")
    date = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time()), date)
            elif isinstance(value, str):
                sheet.write_string(r, c, value)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()


def write_openpyxl(path: Path, grid: list[list[object]]) -> None:
    """Inline strings, as openpyxl writes them."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Data"
    for row in grid:
        sheet.append(row)
    book.save(path)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid=GRID, writer=st.sampled_from([write_xlsxwriter, write_openpyxl]))
def test_every_cell_reads_as_calamine_reads_it(
    tmp_path_factory: pytest.TempPathFactory, grid: list[list[object]], writer: Writer
) -> None:
    path = tmp_path_factory.mktemp("xlsx") / "book.xlsx"
    writer(path, grid)
    assert streamed(path) == by_calamine(path)


def test_times_durations_1904_dates_and_errors_read_as_calamine_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "kinds.xlsx"
    book = xlsxwriter.Workbook(str(path), {"date_1904": True})
    sheet = book.add_worksheet()
    formats = ["h:mm", "[h]:mm:ss", "mm:ss", "d-mmm-yy h:mm AM/PM", '"Day "0', "0%", "0.00E+00", "00000"]
    for c, code in enumerate(formats):
        cell = book.add_format({"num_format": code})
        for r, number in enumerate((0.5, 1.25, 45000.75, 30, 61, 0)):
            sheet.write_number(r, c, number, cell)
    sheet.write_boolean(1, len(formats), False)
    book.close()
    padded = len(formats) - 1  # calamine gives the number; the sheet shows 00001
    ours, theirs = streamed(path), by_calamine(path)

    def others(rows: SheetText) -> SheetText:
        return [(n, {c: v for c, v in cells.items() if c != padded}) for n, cells in rows]

    assert others(ours) == others(theirs)
    assert [cells[padded] for _, cells in ours] == ["00001", "00001", "45001", "00030", "00061", "00000"]


def test_a_formula_error_is_a_row_problem_naming_the_cell(tmp_path: Path) -> None:
    """calamine reads #DIV/0! as an empty cell; streamed, the row says where the error is."""
    path = tmp_path / "errors.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id", "email", "name"])
    sheet.write_row(1, 0, ["1", "a@example.com"])
    sheet.write_formula(1, 2, "=1/0", None, "#DIV/0!")
    sheet.write_row(2, 0, ["2", "b@example.com", "Ada"])
    book.close()
    first, second = open_table(path).rows()
    assert first.problem is not None and "C2 #DIV/0!" in first.problem.render()
    assert second.problem is None and second.cells == ("2", "b@example.com", "Ada")


def test_a_big_shared_strings_table_read_out_of_order(tmp_path: Path) -> None:
    """Thousands of shared strings, referred to in a shuffled order (a sheet sorted in Excel
    after it was saved): the spooled table's blocks are read back right however they come."""
    path = tmp_path / "sorted.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for r in range(3000):
        sheet.write_string(r, 0, f"name {r}")
    book.close()
    order = list(range(3000))
    random.Random(7).shuffle(order)
    shuffled = tmp_path / "shuffled.xlsx"
    rewrite(
        path,
        shuffled,
        lambda xml: re.sub(r"<v>(\d+)</v>", lambda m: f"<v>{order[int(m.group(1))]}</v>", xml),
    )
    assert streamed(shuffled) == [(r + 1, {0: f"name {order[r]}"}) for r in range(3000)]


def rewrite(
    source: Path, target: Path, change: Callable[[str], str], part: str = "xl/worksheets/sheet1.xml"
) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == part:
                data = change(data.decode("utf-8")).encode("utf-8")
            new.writestr(item, data)


def a_workbook(tmp_path: Path, rows: int = 20000) -> Path:
    """Large enough that its sheet XML spans several of the reader's 256 KB stretches."""
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id", "email", "zip"])
    padded = book.add_format({"num_format": "00000"})
    for r in range(1, rows + 1):
        sheet.write_number(r, 0, r)
        sheet.write_string(r, 1, f"c{r}@example.com & co")
        sheet.write_number(r, 2, r % 1000, padded)
    book.close()
    return path


@pytest.mark.parametrize(
    "layout",
    [
        # A namespace prefix on every element (the .NET Open XML SDK writes these).
        lambda xml: re.sub(r"<(/?)(\w+)([ >/])", r"<\1x:\2\3", xml).replace(
            "<x:worksheet xmlns=", "<x:worksheet xmlns:x="
        ),
        # Pretty-printed: a newline between elements.
        lambda xml: xml.replace("><", ">\n<"),
        # One comment half-way down: rows before it come fast, rows after it from the parser.
        lambda xml: xml.replace('<row r="12000"', '<!-- half way --><row r="12000"'),
        # Attributes in another order, and a cell written as an element with a formula.
        lambda xml: xml.replace('<c r="B15000" t="s">', '<c t="s" r="B15000">').replace(
            '<c r="A15001">', '<c r="A15001"><f>ROW()-1</f>'
        ),
    ],
    ids=["prefixed", "pretty", "comment", "order"],
)
def test_any_layout_reads_every_row_exactly_once(tmp_path: Path, layout: Callable[[str], str]) -> None:
    plain = a_workbook(tmp_path)
    other = tmp_path / "other.xlsx"
    rewrite(plain, other, layout)
    expected = streamed(plain)
    assert len(expected) == 20001 and expected[1] == (2, {0: "1", 1: "c1@example.com & co", 2: "00001"})
    assert streamed(other) == expected
    assert by_calamine(other) == by_calamine(plain)


def test_rich_text_phonetic_guides_and_escapes_in_shared_strings(tmp_path: Path) -> None:
    path = a_workbook(tmp_path, rows=2)
    other = tmp_path / "rich.xlsx"
    rewrite(
        path,
        other,
        lambda xml: xml.replace(
            "<si><t>id</t></si>",
            '<si><r><rPr><b/></rPr><t xml:space="preserve">i</t></r><r><t>d</t></r>'
            '<rPh sb="0" eb="1"><t>アイディー</t></rPh></si>',
        ).replace("<si><t>email</t></si>", "<si><t>e_x002D_mail</t></si>"),
        part="xl/sharedStrings.xml",
    )
    assert streamed(other)[0] == (1, {0: "id", 1: "e-mail", 2: "zip"}) == by_calamine(other)[0]


def test_a_header_merged_past_the_named_columns_is_refused(tmp_path: Path) -> None:
    """Merged cells come after the rows in the XML: the reader looks there when the used
    range reaches past the last named header cell, and says the range."""
    path = tmp_path / "merged.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["id", "email"])
    sheet.merge_range("C1:E1", "Address", None)
    sheet.write_row(1, 0, ["1", "a@example.com", "1 Main St", "London", "GB"])
    book.close()
    with pytest.raises(InputError, match=r"header cells C1:E1 are merged"):
        open_table(path)


def test_values_left_of_the_first_named_column_are_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "left.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    sheet.write_row(0, 1, ["id", "email"])
    sheet.write_row(1, 1, ["1", "a@example.com"])
    sheet.write_row(2, 0, ["note", "2", "b@example.com"])
    book.close()
    table = open_table(path)
    rows = list(table.rows())
    assert table.columns == ("id", "email") and rows[0].problem is None
    assert rows[1].problem is not None and "A3 'note'" in rows[1].problem.render()
    assert "before the first named column" in rows[1].problem.render()


def test_a_truncated_sheet_is_one_line_naming_the_sheet(tmp_path: Path) -> None:
    path = a_workbook(tmp_path, rows=3000)
    cut = tmp_path / "cut.xlsx"
    rewrite(path, cut, lambda xml: xml[: len(xml) // 2])
    with pytest.raises(InputError, match=r"cut\.xlsx: sheet 'Sheet1' cannot be read \(ExpatError"):
        list(open_table(cut).rows())


def test_the_second_pass_replays_the_first_and_never_a_stale_or_partial_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import reads its input twice; the second read of a workbook replays the first. A pass
    stopped early (--limit) leaves nothing to replay, and a changed file is read afresh."""
    path = a_workbook(tmp_path, rows=500)
    table = open_table(path)
    first = table.rows()
    assert [next(first).row for _ in range(3)] == [2, 3, 4]
    first.close()  # stopped early: the next pass must read the whole sheet again
    whole = list(table.rows())
    assert len(whole) == 500 and whole[-1].cells == ("500", "c500@example.com & co", "00500")
    with monkeypatch.context() as patched:
        patched.setattr(excel, "_sheet", lambda *_: pytest.fail("the sheet was parsed again"))
        assert list(table.rows()) == whole  # replayed, the same rows
    rewrite(
        path,
        tmp_path / "edited.xlsx",
        lambda xml: xml.replace('<c r="A501"><v>500</v>', '<c r="A501"><v>501</v>'),
    )
    (tmp_path / "edited.xlsx").replace(path)
    again = list(open_table(path).rows())
    assert again[-1].cells[0] == "501"
