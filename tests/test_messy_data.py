"""Legacy exports as they come: a corpus of messy files, read right or refused in one line.

Every case goes through the command line (`validate`, `run --dry-run`, `init-mapping`), the
way a person migrating a list meets it.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.cli import main
from importer.mapping import Mapping
from importer.mapping_file import load_mapping
from importer.readers import SourceRow
from tests.helpers import SAMPLE, SHARED_DATA, examples, read_csv, schema, write


def cli(*args: str | Path):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        main, [str(a) for a in args], env={"KELVIQ_API_KEY": ""}, catch_exceptions=False
    )
    assert "Traceback" not in result.output
    return result


def results(report: Path) -> dict[int, dict[str, str]]:
    return {int(r["row"]): r for r in read_csv(report / "results.csv")}


# --- the corpus ------------------------------------------------------------------------------

CP1252_EXPORT = "Kundennummer;Name;E-Mail;Ort;Land\r\nK-1;François Lefèvre;fl@example.fr;Zürich;Schweiz\r\n"


@pytest.mark.parametrize(
    ("name", "data", "options", "expected"),
    [
        # Excel "CSV (semicolon)" in a German locale: cp1252, CRLF, German headers.
        (
            "de.csv",
            CP1252_EXPORT.replace("Schweiz", "Switzerland").encode("cp1252"),
            ["--encoding", "cp1252"],
            {
                "customerId": "K-1",
                "name": "François Lefèvre",
                "billingAddress": {"city": "Zürich", "country": "CH"},
            },
        ),
        # Excel "Unicode text": UTF-16 with BOM, tab-separated.
        (
            "unicode.txt",
            "customer_id\tname\tcountry\r\nU-1\tŁukasz Żak\tPoland\r\n".encode("utf-16"),
            [],
            {"customerId": "U-1", "name": "Łukasz Żak", "billingAddress": {"country": "PL"}},
        ),
        # UTF-8 with BOM, pipe-separated, a quoted field with a newline and a delimiter in it.
        (
            "pipes.csv",
            b'\xef\xbb\xbfid|name|address\n7|"Smith | Sons"|"1 High St\nFloor 2"\n',
            [],
            {"customerId": "7", "name": "Smith | Sons", "billingAddress": {"line1": "1 High St\nFloor 2"}},
        ),
        # A title and a blank line above the header, trailing empty columns from a spreadsheet.
        (
            "titled.csv",
            b"Customer list,,,\nexported 2024-05-01,,,\n,,,\nid,email,zip,\nA1,a@b.co,01234,\n,,,\n",
            ["--header-row", "4"],
            {"customerId": "A1", "email": "a@b.co", "billingAddress": {"postalCode": "01234"}},
        ),
    ],
)
def test_corpus_files_are_read_right(
    tmp_path: Path, name: str, data: bytes, options: list[str], expected: dict[str, object]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    result = cli("validate", path, "--preview", "5", "--report-dir", tmp_path / "r", *options)
    assert result.exit_code == 0, result.output
    payload = _first_payload(result.output)
    for key, value in expected.items():
        assert payload[key] == value


def _first_payload(output: str) -> dict[str, object]:
    for line in output.splitlines():
        if line.startswith("  row "):
            return json.loads(line.split(": ", 1)[1])  # type: ignore[no-any-return]
    raise AssertionError(output)


@pytest.mark.parametrize(
    ("name", "data", "options", "needle"),
    [
        ("cp.csv", CP1252_EXPORT.encode("cp1252"), [], "cp.csv: not valid utf-8 at byte offset 43 (line 2)"),
        ("bin.csv", b"id,name\n\x00\x01\x02\x03", [], "bin.csv: looks like a binary file"),
        ("empty.csv", b"", [], "empty.csv: the file is empty"),
        ("blank.csv", b"\n\n  \n", [], "blank.csv: the file is empty"),
        ("dup.csv", b"id,Email,EMAIL\n1,a,b\n", [], "dup.csv: line 1: columns 2 ('Email') and 3 ('EMAIL')"),
        ("noid.csv", b"Email,Name\na@b.co,A\n", [], "noid.csv: no customerId column"),
        ("x.csv", b"id\n1\n", ["--encoding", "ebcdic-klingon"], "--encoding 'ebcdic-klingon': unknown"),
        ("t.csv", b"id\n1\n", ["--header-row", "9"], "t.csv: --header-row 9"),
    ],
)
def test_corpus_files_that_cannot_be_used_are_refused_in_one_line(
    tmp_path: Path, name: str, data: bytes, options: list[str], needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    result = cli("validate", path, "--report-dir", tmp_path / "r", *options)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.output
    assert not (tmp_path / "r").exists()  # refused before any report is started


def test_broken_records_are_reported_per_row_with_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "ragged.csv",
        "id,email,city\n1,a@b.co,Rome\n2,b@b.co\n3,c@b.co,Oslo,extra\n4,d@b.co,Bern\n",
    )
    result = cli("validate", path, "--report-dir", tmp_path / "r")
    assert result.exit_code == 1
    got = results(tmp_path / "r")
    assert sorted(got) == [2, 3, 4, 5]  # every row accounted for, by the line it is on
    assert (
        got[3]["status"] == "invalid"
        and got[3]["error"] == "line has fewer fields than the header (2 fields, the header has 3)"
    )
    assert got[4]["status"] == "invalid"
    assert got[4]["error"] == (
        "line has more fields than the header (4 fields, the header has 3; beyond the last column: 'extra')"
    )
    # failed.csv shows what each broken line held, so it can be fixed there.
    failed = read_csv(tmp_path / "r" / "failed.csv")
    assert [(f["id"], f["email"], f["city"]) for f in failed] == [
        ("2", "b@b.co", ""),
        ("3", "c@b.co", "Oslo"),
    ]
    assert {got[2]["status"], got[5]["status"]} == {"valid"}


def test_excel_header_row_and_numbers_as_the_sheet_shows_them(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(["ACME CRM export"])
    ws.append(["generated", "2024-05-01"])
    ws.append(["Account No", "Contact", "Phone", "Postcode", "Country"])
    ws.append([10045, "Ada Lovelace", 4915112345678, "01234", "Germany"])
    path = tmp_path / "crm.xlsx"
    wb.save(path)
    mapping = write(
        tmp_path / "m.toml",
        '[fields]\ncustomerId = "Account No"\nname = "Contact"\nbillingAddress.postalCode = "Postcode"\n'
        'billingAddress.country = "Country"\n[metadata]\nphone = "Phone"\n',
    )
    result = cli(
        "validate",
        path,
        "--sheet",
        "Export",
        "--header-row",
        "3",
        "--mapping",
        mapping,
        "--preview",
        "1",
        "--report-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 0, result.output
    assert _first_payload(result.output) == {
        "customerId": "10045",
        "name": "Ada Lovelace",
        "billingAddress": {"postalCode": "01234", "country": "DE"},
        "metadata": {"phone": "4915112345678"},
    }
    assert "row 4:" in result.output  # the row number the spreadsheet shows


# --- validate --------------------------------------------------------------------------------


def test_validate_groups_problems_by_kind_and_writes_failed_csv(tmp_path: Path) -> None:
    result = cli("validate", SAMPLE / "customers.csv", "--report-dir", tmp_path / "r", "--preview", "2")
    assert result.exit_code == 1
    out = result.output
    assert "customers.csv: 300 rows (utf-8, ','-separated, header on row 1): 293 valid, 7 invalid" in out
    # Each kind with the values that are wrong, so nobody has to open failed.csv to learn them.
    assert (
        "2  column 'Email Address': … is not a valid email address  "
        "[rows 18 'maria.at.example.com', 122 'john@@example..com']" in out
    )
    assert "2  column 'Country': … is not a known country  [rows 79 'Narnia', 235 'Atlantis']" in out
    assert "1  column 'Customer ID': customerId is empty  [rows 43]" in out
    assert out.count("  row ") == 2
    failed = read_csv(tmp_path / "r" / "failed.csv")
    assert len(failed) == 7 and all(
        f["kelviq_import_error"] and f["kelviq_import_row"].isdigit() for f in failed
    )
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["dry_run"] is True and summary["encoding"] == "utf-8"


def test_validate_needs_no_key_and_sends_nothing(tmp_path: Path) -> None:
    # No KELVIQ_API_KEY and an unroutable base URL: validate must not care.
    result = CliRunner().invoke(
        main,
        ["validate", str(SAMPLE / "customers.xlsx"), "--report-dir", str(tmp_path / "r")],
        env={"KELVIQ_API_KEY": "", "KELVIQ_BASE_URL": "https://203.0.113.1/api/v1"},
    )
    assert result.exit_code == 1 and "293 valid, 7 invalid" in result.output


def test_header_drift_stops_validate_and_run_before_anything(tmp_path: Path) -> None:
    path = write(tmp_path / "tonight.csv", "Customer ID,Mail\n1,a@b.co\n")  # "Email Address" renamed
    for command in ("validate", "run"):
        result = cli(
            command,
            path,
            "--mapping",
            SAMPLE / "mapping.example.toml",
            "--dry-run" if command == "run" else "--quiet",
        )
        assert result.exit_code == 2
        assert "column 'Email Address' (mapped to email by" in result.output


# --- on-duplicate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "kept", "statuses"),
    [
        ("error", None, {2: "invalid", 3: "valid", 4: "invalid", 5: "invalid"}),
        ("first", 2, {2: "valid", 3: "valid", 4: "skipped", 5: "skipped"}),
        ("last", 5, {2: "skipped", 3: "valid", 4: "skipped", 5: "valid"}),
    ],
)
def test_on_duplicate(tmp_path: Path, policy: str, kept: int | None, statuses: dict[int, str]) -> None:
    path = write(tmp_path / "d.csv", "id,name\nX,first\nY,other\nX,middle\nX,last\n")
    result = cli("validate", path, "--on-duplicate", policy, "--preview", "5", "--report-dir", tmp_path / "r")
    got = results(tmp_path / "r")
    assert {row: r["status"] for row, r in got.items()} == statuses
    if kept is None:
        assert result.exit_code == 1
        assert "'X' appears more than once in the file" in got[2]["error"]
        assert "(3 times; also rows 4, 5)" in got[2]["error"]
    else:
        assert result.exit_code == 0  # dropping duplicates was asked for: not a failure
        skipped = [r for r in got.values() if r["status"] == "skipped"]
        assert all(
            f"is a duplicate of an imported row (--on-duplicate {policy}) (row {kept} is imported)"
            in r["error"]
            for r in skipped
        )
        names = [
            json.loads(line.split(": ", 1)[1])["name"]
            for line in result.output.splitlines()
            if line.startswith("  row ")
        ]
        assert names == (["first", "other"] if policy == "first" else ["other", "last"])
        assert read_csv(tmp_path / "r" / "failed.csv") == []


# --- init-mapping ----------------------------------------------------------------------------


def test_init_mapping_drafts_a_file_that_works_on_the_shared_sample(tmp_path: Path) -> None:
    source = SHARED_DATA / "datablist-customers-20.csv"
    result = cli("init-mapping", source)
    assert result.exit_code == 0
    text = result.output
    assert 'customerId = "Customer Id"' in text and 'name = "{First Name} {Last Name}"' in text
    assert '# billingAddress.postalCode = ""   # not found in the header' in text
    assert '# company = "Company"' in text and '# phone_1 = "Phone 1"' in text
    mapping = write(tmp_path / "m.toml", text.replace('# company = "Company"', 'company = "Company"'))
    check = cli("validate", source, "--mapping", mapping, "--preview", "1", "--report-dir", tmp_path / "r")
    assert check.exit_code == 0, check.output
    first = _first_payload(check.output)
    assert first["customerId"] == "0yJn77tfsE" and first["metadata"] == {
        "company": "Gillespie, Chapman and Evans"
    }
    assert "20 rows" in check.output and "20 valid" in check.output


def test_init_mapping_marks_a_missing_customer_id(tmp_path: Path) -> None:
    result = cli("init-mapping", write(tmp_path / "p.csv", "Email,Notes\na@b.co,x\n"))
    assert '# customerId = ""   # not found in the header  # REQUIRED' in result.output
    load_mapping(write(tmp_path / "m.toml", result.output))  # still valid TOML


# --- property: any row maps to a valid payload or to a problem, never an exception ----------

COLUMNS = ("Customer Id", "First Name", "Last Name", "Email", "Country", "Zip", "Plan")
CREATE = schema("CustomerCreateRequest")
MAPPERS = [
    Mapping.guess(COLUMNS).compile(COLUMNS, where="prop.csv"),
    load_mapping(SAMPLE / "datablist.mapping.toml").compile(
        (
            "Index",
            "Customer Id",
            "First Name",
            "Last Name",
            "Company",
            "City",
            "Country",
            "Phone 1",
            "Phone 2",
            "Email",
            "Subscription Date",
            "Website",
        ),
        where="prop.csv",
    ),
]
cell = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "DE", "Germany", "a@b.co", "not-an-email", "NA", "nan", "0", "01234", "=1+1"]),
    st.emails(),
)


@settings(max_examples=examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_row_maps_to_a_schema_valid_payload_or_a_problem(data: st.DataObject) -> None:
    mapper = data.draw(st.sampled_from(MAPPERS))
    cells = tuple(data.draw(st.lists(cell, min_size=mapper.width, max_size=mapper.width)))
    got = mapper.map(SourceRow(2, cells))
    if got.payload is None:
        assert got.problem  # a reason a person can read
    else:
        assert got.problem is None
        jsonschema.validate(got.payload, CREATE, format_checker=jsonschema.FormatChecker())
        assert got.payload["customerId"].strip() == got.payload["customerId"] != ""
