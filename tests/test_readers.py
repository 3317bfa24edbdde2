"""Reading CSV and Excel as text rows, with row numbers a person can find."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.readers import open_table
from tests.helpers import SAMPLE, SHARED_DATA, write


def rows(path: Path, **kw: str) -> list[tuple[int, tuple[str, ...], str | None]]:
    return [
        (r.row, r.cells, r.problem.render() if r.problem else None) for r in open_table(path, **kw).rows()
    ]


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
    assert (
        got[1][2] == "line has more fields than the header "
        "(3 fields, the header has 2; beyond the last column: 'extra')"
    )
    assert got[1][1] == ("2", "b")  # what the line held, for failed.csv
    assert got[2] == (4, ("3", "c"), None)


def test_a_line_with_too_few_fields_is_a_row_problem_naming_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "id,name,city\n1,a,x\n2,b\n3,c,z\n")
    assert rows(path) == [
        (2, ("1", "a", "x"), None),
        (3, ("2", "b", ""), "line has fewer fields than the header (2 fields, the header has 3)"),
        (4, ("3", "c", "z"), None),
    ]


def test_trailing_blank_columns_and_rows_are_ignored(tmp_path: Path) -> None:
    # What a spreadsheet "Save as CSV" leaves behind after cells were cleared.
    path = write(tmp_path / "c.csv", "id,name,,\n1,a,,\n2,b,,\n,,,\n,,,\n")
    assert open_table(path).columns == ("id", "name")
    assert rows(path) == [(2, ("1", "a"), None), (3, ("2", "b"), None)]


def test_rows_are_numbered_by_the_line_they_start_on(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'id,address\n1,"a\nb\nc"\n2,x\n')
    assert [r for r, _, _ in rows(path)] == [2, 5]


def test_header_row_below_a_title(tmp_path: Path) -> None:
    text = "Customer export\nGenerated 2024-01-01 by LegacyCRM\n\nid;name\n1;a\n"
    path = write(tmp_path / "c.csv", text)
    table = open_table(path, header_row=4)
    assert table.columns == ("id", "name") and table.delimiter == ";"
    assert rows(path, header_row=4) == [(5, ("1", "a"), None)]


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
    expected = r"cp1252.csv: not valid utf-8 at byte offset 11 \(line 2\); "
    with pytest.raises(InputError, match=expected) as info:
        open_table(path)
    assert "--encoding" in str(info.value)
    assert rows(path, encoding="cp1252")[0][1] == ("1", "Müller")


def test_bad_bytes_deep_in_the_file_are_named_by_offset_and_line(tmp_path: Path) -> None:
    # Past the 64 KB sniffed at open: found while streaming, still with its exact offset.
    good = "id,name\n" + "".join(f"{i},Zoë Núñez\n" for i in range(10_000))
    bad = "99999,Fran\xe7ois Lef\xe8vre\n".encode("cp1252")
    path = tmp_path / "late.csv"
    path.write_bytes(good.encode() + bad)
    table = open_table(path)
    with pytest.raises(InputError) as info:
        list(table.rows())
    offset = len(good.encode()) + len("99999,Fran")
    assert f"late.csv: not valid utf-8 at byte offset {offset} (line 10002); " in str(info.value)
    # The hint shows the broken line as the suggested encoding reads it, so a person can judge.
    assert "reads '99999,François Lefèvre' in cp1252): run again with --encoding cp1252" in str(info.value)
    assert rows(path, encoding="cp1252")[-1][1] == ("99999", "François Lefèvre")


def test_latin1_and_a_utf8_bom_with_encoding_stated(tmp_path: Path) -> None:
    path = tmp_path / "l1.csv"
    path.write_bytes("id,city\n1,Malmö\n".encode("latin-1"))
    assert rows(path, encoding="latin-1") == [(2, ("1", "Malmö"), None)]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfid,city\n1,a\n")
    assert open_table(bom, encoding="utf-8").columns == ("id", "city")


def test_unknown_encoding_is_a_usage_message(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"--encoding 'klingon': unknown encoding"):
        open_table(write(tmp_path / "c.csv", "id\n1\n"), encoding="klingon")


def test_utf16_with_tabs_as_excel_unicode_text_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("id\tname\r\n1\tŁukasz\r\n".encode("utf-16"))
    table = open_table(path)
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert rows(path) == [(2, ("1", "Łukasz"), None)]


def test_duplicate_and_blank_header_names_are_input_errors(tmp_path: Path) -> None:
    same = r"d.csv: line 1: columns 2 \('Email'\) and 3 \('email'\) of the header have the same name"
    with pytest.raises(InputError, match=same):
        open_table(write(tmp_path / "d.csv", "id,Email,email\n1,a,b\n"))
    with pytest.raises(InputError, match=r"b.csv: line 1: column 2 of the header has no name"):
        open_table(write(tmp_path / "b.csv", "id,,name\n1,a,b\n"))


def test_an_unclosed_quote_is_reported_not_swallowed_silently(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'id,name\n1,"never closed\n' + "2,b\n" * 10 + "3,c\n")
    [(row, cells, problem)] = rows(path)
    # The rest of the file became one field: the record is reported with all it swallowed.
    assert row == 2 and cells[1].endswith("3,c\n")
    assert problem == (
        "a quoted field runs over several lines holding records: an unclosed quote? "
        "(lines 2 to 13, 11 of them look like records)"
    )
    legit = write(tmp_path / "ok.csv", 'id,address\n1,"1 Main St\nApt 2"\n')
    assert rows(legit)[0][2] is None


def test_a_one_megabyte_cell_and_ten_thousand_columns_are_read(tmp_path: Path) -> None:
    big = "x" * (1 << 20)
    path = write(tmp_path / "big.csv", f"id,note\n1,{big}\n")
    assert rows(path)[0][1][1] == big
    header = ",".join(f"c{i}" for i in range(10_000))
    wide = write(tmp_path / "wide.csv", header + "\n" + ",".join("v" for _ in range(10_000)) + "\n")
    assert len(open_table(wide).columns) == 10_000 and len(rows(wide)[0][1]) == 10_000


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
    with pytest.raises(InputError, match=r"unsupported file type '.xml'"):
        open_table(write(tmp_path / "x.xml", "<a/>"))


def test_excel_cells_are_rendered_as_the_sheet_shows_them(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["id", "zip", "amount", "phone", "joined", "vip"])
    ws.append([1001, "01234", 12.5, 4915112345678, dt.date(2024, 2, 29), True])
    ws.append([])
    ws.append(["x", None, 3.0, 1.5e-07, dt.datetime(2024, 1, 1, 9, 30), False])
    wb.create_sheet("Other")
    path = tmp_path / "book.xlsx"
    wb.save(path)
    table = open_table(path)
    assert table.sheet == "Export" and table.columns == ("id", "zip", "amount", "phone", "joined", "vip")
    assert rows(path) == [
        (2, ("1001", "01234", "12.5", "4915112345678", "2024-02-29", "TRUE"), None),
        (4, ("x", "", "3", "0.00000015", "2024-01-01 09:30:00", "FALSE"), None),
    ]
    with pytest.raises(InputError, match=r"no sheet named 'Nope'; the workbook has 'Export', 'Other'"):
        open_table(path, sheet="Nope")


def test_corrupt_workbook_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InputError, match=r"broken\.xlsx: not a readable workbook"):
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


def test_an_ods_spreadsheet_reads_like_a_workbook(tmp_path: Path) -> None:
    """README claims .ods: a minimal OpenDocument spreadsheet, written by hand (no writer is
    installed), read through calamine like an .xlsx."""
    import zipfile

    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Export">'
        '<table:table-row><table:table-cell office:value-type="string"><text:p>id</text:p></table:table-cell>'
        '<table:table-cell office:value-type="string"><text:p>email</text:p></table:table-cell>'
        "</table:table-row>"
        '<table:table-row><table:table-cell office:value-type="float" office:value="42"><text:p>42</text:p>'
        '</table:table-cell><table:table-cell office:value-type="string"><text:p>a@example.com</text:p>'
        "</table:table-cell></table:table-row>"
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    path = tmp_path / "sheet.ods"
    with zipfile.ZipFile(path, "w") as ods:
        ods.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        ods.writestr("META-INF/manifest.xml", manifest)
        ods.writestr("content.xml", content)
    table = open_table(path)
    assert table.columns == ("id", "email") and table.sheet == "Export"
    assert [r.cells for r in table.rows()] == [("42", "a@example.com")]


def test_every_list_of_formats_comes_from_the_readers_registry() -> None:
    """Issue 22: the formats were written out in four places. Now the registry is the one list:
    --format's choices are it, the messages say it, and the README's INPUT row names each."""
    from importer.cli import main
    from importer.readers import FORMATS, formats_text
    from importer.readers.base import readers
    from tests.helpers import ROOT

    suffixes = [s for r in readers() for s in r.suffixes]
    assert tuple(f for r in readers() for f in r.formats) == FORMATS
    choices = next(p for p in main.commands["run"].params if p.name == "file_format").type.choices  # type: ignore[attr-defined]
    assert tuple(choices) == FORMATS
    assert all(s in formats_text() for s in suffixes if not s.endswith(".gz"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    input_row = next(line for line in readme.splitlines() if line.startswith("| `INPUT` |"))
    missing = [s for s in suffixes if not s.endswith((".tsv.gz", ".txt.gz")) and f"`{s}`" not in input_row]
    assert missing == [], f"README's INPUT row does not name {missing}"
