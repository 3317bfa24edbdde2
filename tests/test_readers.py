"""Reading CSV and Excel as text rows, with row numbers a person can find."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.readers import open_table
from tests.conftest import SAMPLE, SHARED_DATA, write


def rows(path: Path, **kw: str) -> list[tuple[int, tuple[str, ...], str | None]]:
    return [(r.row, r.cells, r.problem) for r in open_table(path, **kw).rows()]


def test_every_cell_is_text_and_nothing_becomes_nan(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,zip,note,n\n1,01234,NA,\n2,00501,null,1e5\n")
    assert rows(path) == [
        (2, ("1", "01234", "NA", ""), None),
        (3, ("2", "00501", "null", "1e5"), None),
    ]


def test_blank_lines_are_skipped_but_keep_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,name\n1,a\n\n\n4,d\n,\n")
    assert [(r, c) for r, c, _ in rows(path)] == [(2, ("1", "a")), (5, ("4", "d"))]


def test_a_line_with_too_many_fields_becomes_a_row_problem_not_an_abort(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,name\n1,a\n2,b,extra\n3,c\n")
    got = rows(path)
    assert [r for r, _, _ in got] == [2, 3, 4]
    assert got[1][2] == "line has 3 fields, the header has 2"
    assert got[2] == (4, ("3", "c"), None)


def test_short_lines_are_padded(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,name,city\n1,a\n")
    assert rows(path) == [(2, ("1", "a", ""), None)]


@pytest.mark.parametrize(
    ("name", "text", "delimiter"),
    [
        ("semi.csv", "id;name\n1;Müller, Hans\n", ";"),
        ("tab.tsv", "id\tname\n1\tMüller, Hans\n", "\t"),
        ("pipe.csv", "id|name\n1|Müller, Hans\n", "|"),
        ("comma.csv", 'id,name\n1,"Müller, Hans"\n', ","),
    ],
)
def test_delimiter_is_sniffed(tmp_path: Path, name: str, text: str, delimiter: str) -> None:
    path = write(tmp_path / name, text)
    table = open_table(path)
    assert table.delimiter == delimiter
    assert [c for _, c, _ in rows(path)] == [("1", "Müller, Hans")]


def test_quoted_newlines_stay_inside_the_cell(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'id,address\n1,"1 Main St\nApt 2"\n2,x\n')
    assert [c for _, c, _ in rows(path)] == [("1", "1 Main St\nApt 2"), ("2", "x")]


def test_utf8_bom_and_utf16_are_read(tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfid,name\n1,Zo\xc3\xab\n")
    assert open_table(bom).columns == ("id", "name")
    assert rows(bom)[0][1] == ("1", "Zoë")
    u16 = write(tmp_path / "u16.csv", "id,name\n1,Zoë\n", "utf-16")
    assert rows(u16)[0][1] == ("1", "Zoë")


def test_invalid_utf8_is_a_clear_error_naming_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "cp1252.csv"
    path.write_bytes("id,name\n1,Müller\n".encode("cp1252") + b"2,x\n" * 10)
    with pytest.raises(InputError, match=r"cp1252.csv: not valid utf-8 at byte offset 11; .*--encoding"):
        open_table(path)
    assert rows(path, encoding="cp1252")[0][1] == ("1", "Müller")


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    path.write_bytes(gzip.compress(b"id,name\n1,a\n"))
    assert rows(path) == [(2, ("1", "a"), None)]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.mkdir(), p)[1], "is a directory"),
        (lambda p: (p.write_bytes(b""), p)[1], "the file is empty"),
        (lambda p: (p.write_bytes(b"\x00\x01\x02PK\x00"), p)[1], "binary file"),
    ],
)
def test_unusable_files_are_one_line_input_errors(tmp_path: Path, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    path = setup(tmp_path / "in.csv")
    with pytest.raises(InputError, match=message) as info:
        open_table(path)
    assert "\n" not in str(info.value) and "in.csv" in str(info.value)


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unsupported file type '.json'"):
        open_table(write(tmp_path / "x.json", "{}"))


def test_excel_cells_are_rendered_as_the_sheet_shows_them(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["id", "zip", "amount", "phone", "joined", "vip"])
    ws.append([1001, "01234", 12.5, 4915112345678, dt.date(2024, 2, 29), True])
    ws.append([])
    ws.append(["x", None, 3.0, None, dt.datetime(2024, 1, 1, 9, 30), False])
    wb.create_sheet("Other")
    path = tmp_path / "book.xlsx"
    wb.save(path)
    table = open_table(path)
    assert table.sheet == "Export" and table.columns == ("id", "zip", "amount", "phone", "joined", "vip")
    assert rows(path) == [
        (2, ("1001", "01234", "12.5", "4915112345678", "2024-02-29", "TRUE"), None),
        (4, ("x", "", "3", "", "2024-01-01 09:30:00", "FALSE"), None),
    ]
    with pytest.raises(InputError, match=r"no sheet named 'Nope'; the workbook has 'Export', 'Other'"):
        open_table(path, sheet="Nope")


def test_corrupt_workbook_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InputError, match="broken.xlsx: not a readable workbook"):
        open_table(path)


def test_sample_csv_and_xlsx_hold_the_same_rows() -> None:
    csv_rows = rows(SAMPLE / "customers.csv")
    xlsx_rows = rows(SAMPLE / "customers.xlsx")
    assert len(csv_rows) == 300

    def stripped(got):  # type: ignore[no-untyped-def]
        return [(r, tuple(c.strip() for c in cells)) for r, cells, _ in got]

    # openpyxl drops a whitespace-only cell ("  ") when writing; the mapper strips anyway.
    assert stripped(csv_rows) == stripped(xlsx_rows)


def test_shared_datablist_sample_reads_with_quoted_commas() -> None:
    table = open_table(SHARED_DATA / "datablist-customers-20.csv")
    got = list(table.rows())
    assert len(got) == 20 and table.columns[1] == "Customer Id"
    assert got[0].cells[4] == "Gillespie, Chapman and Evans"
