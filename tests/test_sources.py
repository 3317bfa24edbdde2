"""Where the rows come from: JSON Lines, JSON arrays, Parquet, stdin, DataFrames and iterables.

API behaviour relied on: the sandbox's (POST creates with 201, the listing pages with DRF's
``count``/``next``/``results``); nothing here depends on how a refusal is worded.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from importer.config import ImportConfig
from importer.errors import InputError, UsageError
from importer.pipeline import arun_import, run_import
from importer.readers import open_table, records
from importer.readers.records import value_text
from importer.sandbox import DEFAULT_KEY, SandboxServer
from importer.validate import validate
from importer.verify import averify
from tests.helpers import SAMPLE, read_csv, write

SERVER_FIELDS = {"id", "createdOn", "modifiedOn"}  # what the server makes up itself


def sample_rows() -> list[dict[str, str]]:
    with (SAMPLE / "customers.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def rows_of(path: Path, **kw: Any) -> list[tuple[int, tuple[str, ...], str | None]]:
    table = open_table(path, **kw)
    return [(r.row, r.cells, r.problem.kind if r.problem else None) for r in table.rows()]


# --- the readers ----------------------------------------------------------------------------


def test_json_lines_nested_ragged_and_broken_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.jsonl",
        '\ufeff{"id": "A1", "address": {"city": "Oslo", "geo": {"lat": 59.9}}, "tags": ["a", "b"]}\n'
        "\n"
        '{"id": "A2", "vip": true, "score": 12.0, "note": null}\n'
        "[1, 2]\n"
        '{"id": "A3", broken\n'
        '{"id": 7, "address": {"city": "Bergen"}}\n',
    )
    table = open_table(path)
    assert table.columns == ("id", "address.city", "address.geo.lat", "tags", "vip", "score", "note")
    assert table.kind_name == "JSON Lines"
    got = rows_of(path)
    # Rows are the lines a person finds them on; the blank line is no row.
    assert [r[0] for r in got] == [1, 3, 4, 5, 6]
    assert got[0][1] == ("A1", "Oslo", "59.9", '["a", "b"]', "", "", "")
    assert got[1][1] == ("A2", "", "", "", "true", "12", "")  # 12.0 is the integer 12
    assert got[2][2] is not None and "not a JSON object (an array)" in got[2][2]
    assert got[3][2] == "is not valid JSON"
    assert got[4][1][:2] == ("7", "Bergen")


def test_a_json_array_streams_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers, strings and objects cut anywhere by the read buffer come out whole."""
    data = [
        {"id": f"C{i}", "n": 1234567 + i, "s": "x" * (i % 13) + '"\\é', "o": {"k": [i, None]}}
        for i in range(60)
    ]
    data.insert(7, 42)  # not an object: a row with a problem, not a crash
    path = write(tmp_path / "in.json", json.dumps(data, indent=1, ensure_ascii=False))
    for chunk in (1, 3, 7, 64, 1 << 20):
        monkeypatch.setattr(records, "CHUNK", chunk)
        got = rows_of(path)
        assert len(got) == 61
        assert [r[0] for r in got] == list(range(1, 62))  # the element's position
        assert got[7][2] is not None and "(a number)" in got[7][2]
        assert got[60][1] == ("C59", str(1234567 + 59), "x" * (59 % 13) + '"\\é', "[59, null]")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"id": "A"},\n {"id": "B"}\n {"id": "C"}]', r"line 3: not valid JSON \(expected ',' or '\]'"),
        ('[{"id": "A"},\n {"id": "B",}]', r"line 2: not valid JSON"),
        ('[{"id": "A"}', r"not valid JSON \(expected ',' or '\]' after an element, found 'the end'\)"),
        ('{\n "id": "A"\n}', r"holds one JSON object"),
        ('"customers"', r"holds one array of objects"),
        ("  \n", r"the file is empty"),
        ('[{"Email": "a"}, {"email": "b"}]', r"'Email' and 'email' differ only in case"),
    ],
)
def test_broken_json_is_one_line_naming_where(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        list(open_table(write(tmp_path / "in.json", text)).rows())
    assert "\n" not in str(info.value) and "in.json" in str(info.value)


def test_json_lines_saved_as_json_are_read_as_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "export.json", '{"id": "A"}\n{"id": "B"}\n')
    assert [r[1] for r in rows_of(path)] == [("A",), ("B",)]


def test_parquet_structs_dates_decimals_and_nulls(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="pyarrow is the [parquet] extra")
    import datetime as dt
    from decimal import Decimal

    import pyarrow.parquet as pq

    table = pa.table(
        {
            "id": pa.array([1001, 1002, None], pa.int64()),
            "address": pa.array(
                [{"city": "Oslo", "zip": "0150"}, None, {"city": "Lyon", "zip": None}],
                pa.struct([("city", pa.string()), ("zip", pa.string())]),
            ),
            "since": pa.array([dt.date(2024, 1, 5), None, dt.date(2023, 12, 31)]),
            "seen": pa.array([dt.datetime(2024, 2, 1, 10, 30), None, dt.datetime(2024, 3, 1)]),
            "balance": pa.array([Decimal("12.50"), Decimal("0.00"), None], pa.decimal128(10, 2)),
            "plan": pa.array(["pro", "free", "pro"]).dictionary_encode(),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    assert open_table(path).columns == (
        "id",
        "address.city",
        "address.zip",
        "since",
        "seen",
        "balance",
        "plan",
    )
    assert [r[1] for r in rows_of(path)] == [
        ("1001", "Oslo", "0150", "2024-01-05", "2024-02-01T10:30:00", "12.50", "pro"),
        ("1002", "", "", "", "", "0.00", "free"),
        ("", "Lyon", "", "2023-12-31", "2024-03-01", "", "pro"),
    ]


def test_a_file_that_is_not_parquet_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow", reason="pyarrow is the [parquet] extra")
    with pytest.raises(InputError, match=r"in.parquet: not a readable Parquet file") as refused:
        open_table(write(tmp_path / "in.parquet", "id,email\n1,a@example.com\n"))
    assert "\n" not in str(refused.value)
    # Issue 21, case 11: a garbage footer once gave pyarrow's two-line text.
    garbage = tmp_path / "footer.parquet"
    garbage.write_bytes(b"PAR1" + b"\x00" * 64 + b"\xff\xff\xff\x7fPAR1")
    with pytest.raises(InputError) as footer:
        open_table(garbage)
    assert "\n" not in str(footer.value) and "not a readable Parquet file" in str(footer.value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (float("nan"), ""),
        (123.0, "123"),
        (1.5e-7, "0.00000015"),
        (0.1, "0.1"),
        (True, "true"),
        (10**20, "100000000000000000000"),
        ({"a": [1, None]}, '{"a": [1, null]}'),
        ("  kept as is ", "  kept as is "),
    ],
)
def test_values_read_as_a_person_would_type_them(value: object, text: str) -> None:
    assert value_text(value) == text


@pytest.mark.e2e  # starts a process or a sandbox
def test_format_flag_and_stdin_sniffing(tmp_path: Path) -> None:
    """A nameless JSON Lines export read through --format, and through stdin with no flag."""
    data = b'{"id": "A", "email": "a@example.com"}\n{"id": "B", "email": "b@example.com"}\n'
    path = write(tmp_path / "export", data.decode())
    assert [r[1] for r in rows_of(path, file_format="jsonl")] == [
        ("A", "a@example.com"),
        ("B", "b@example.com"),
    ]
    report = tmp_path / "r"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", "-", "--report-dir", str(report)],
        input=data, capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"stdin.jsonl: 2 rows (JSON Lines): 2 valid" in done.stdout


# --- whole runs: the same data from every source ---------------------------------------------


def _write_formats(tmp_path: Path) -> dict[str, Path]:
    rows = sample_rows()
    paths = {"csv": SAMPLE / "customers.csv"}
    paths["jsonl"] = tmp_path / "customers.jsonl"
    paths["jsonl"].write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    paths["json"] = tmp_path / "customers.json"
    paths["json"].write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        pass
    else:
        paths["parquet"] = tmp_path / "customers.parquet"
        pq.write_table(pa.Table.from_pylist(rows), paths["parquet"])
    return paths


def _landed(server: SandboxServer) -> dict[str, dict[str, Any]]:
    return {
        cid: {k: v for k, v in c.items() if k not in SERVER_FIELDS} for cid, c in server.app.customers.items()
    }


@pytest.mark.e2e
def test_stdin_jsonl_json_and_parquet_import_like_the_csv(tmp_path: Path) -> None:
    """`cat customers.csv | kelviq-import run -` and the same rows as .jsonl, .json and .parquet:
    the same status for every customer, and the same customers at the sandbox."""
    sources = _write_formats(tmp_path)
    if "parquet" not in sources:
        pytest.skip("pyarrow (the [parquet] extra) is not installed")
    outcomes: dict[str, tuple[list[tuple[str, str]], dict[str, dict[str, Any]]]] = {}
    env = {**os.environ, "KELVIQ_API_KEY": DEFAULT_KEY}
    for name, path in [("stdin", sources["csv"]), *sources.items()]:
        with SandboxServer() as server:
            report = tmp_path / f"report-{name}"
            args = ["-" if name == "stdin" else str(path), "--base-url", server.base_url, "--rate", "0"]
            args += ["--mapping", str(SAMPLE / "mapping.example.toml"), "--report-dir", str(report)]
            done = subprocess.run(
                [sys.executable, "-m", "importer", "run", *args, "--no-journal", "--quiet"],
                input=path.read_bytes() if name == "stdin" else None,
                env=env, capture_output=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 1, done.stderr  # the sample's 7 invalid rows
            # results.csv is in completion order; the same multiset of (customerId, status).
            results = sorted((r["customerId"], r["status"]) for r in read_csv(report / "results.csv"))
            outcomes[name] = (results, _landed(server))
    csv_results, csv_landed = outcomes["csv"]
    assert len(csv_results) == 300 and len(csv_landed) == 293
    for name, (results, landed) in outcomes.items():
        assert results == csv_results, name
        assert landed == csv_landed, name


# --- the Python API: DataFrames, iterables, event loops ---------------------------------------

MAPPING = """
[fields]
customerId = "customer_id"
email = "email"
[metadata]
seats = "seats"
signup = "signup"
plan = "plan"
"""


def _frame() -> Any:
    pd = pytest.importorskip("pandas", reason="pandas is the [pandas] extra")
    import numpy as np

    return pd.DataFrame(
        {
            "customer_id": [1001.0, 1002.0, np.nan, 1004.0],  # ids that went through a float column
            "email": ["a@example.com", np.nan, "c@example.com", "d@example.com"],
            "seats": pd.array([3, None, 5, 12], dtype="Int64"),
            "signup": pd.to_datetime(["2024-01-05", "2024-02-01 10:30", None, pd.NaT], format="ISO8601"),
            "plan": pd.Categorical(["pro", "free", "pro", "free"]),
        }
    )


def _config(server: SandboxServer, tmp_path: Path, source: Any, **kw: Any) -> ImportConfig:
    kw.setdefault("mapping", write(tmp_path / "map.toml", MAPPING))
    kw.setdefault("report_dir", tmp_path / "report")
    return ImportConfig(
        input=source,
        base_url=server.base_url,
        api_key=DEFAULT_KEY,
        rate=None,
        use_journal=False,
        **kw,
    )


@pytest.mark.e2e
def test_a_dataframe_imports_with_the_values_a_person_expects(tmp_path: Path) -> None:
    frame = _frame()
    with SandboxServer() as server:
        summary = run_import(_config(server, tmp_path, frame))
        landed = _landed(server)
    assert summary.counts == {"created": 3, "invalid": 1} and summary.input == "DataFrame"
    assert landed["1001"]["email"] == "a@example.com"
    assert landed["1001"]["metadata"] == {"seats": "3", "signup": "2024-01-05", "plan": "pro"}
    assert "email" not in landed["1002"] or landed["1002"]["email"] in (None, "")  # NaN: an empty cell
    assert landed["1002"]["metadata"] == {"signup": "2024-02-01T10:30:00", "plan": "free"}
    assert landed["1004"]["metadata"] == {"seats": "12", "plan": "free"}  # NaT: empty
    # failed.csv holds the frame's own columns, so the row can be fixed and sent again.
    failed = read_csv(tmp_path / "report" / "failed.csv")
    assert [(f["email"], f["seats"], f["kelviq_import_row"]) for f in failed] == [("c@example.com", "5", "3")]
    assert "customerId is empty" in failed[0]["kelviq_import_error"]


@pytest.mark.e2e
def test_validate_and_verify_take_a_dataframe(tmp_path: Path) -> None:
    from importer.verify import verify

    frame = _frame()
    with SandboxServer() as server:
        checked = validate(_config(server, tmp_path, frame, dry_run=True), preview=1)
        assert checked.summary.counts == {"invalid": 1, "valid": 3}
        assert checked.preview[0]["payload"]["metadata"]["signup"] == "2024-01-05"
        run_import(_config(server, tmp_path, frame, report_dir=tmp_path / "run"))
        proof = verify(_config(server, tmp_path, frame, report_dir=tmp_path / "verify"))
    assert proof.counts == {"invalid": 1, "match": 3} and proof.input == "DataFrame"


def test_parquet_without_pyarrow_is_a_one_line_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the [parquet] extra were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(
        InputError, match=r"in.parquet: reading Parquet needs pyarrow: pip install 'kelviq-import\[parquet\]'"
    ):
        open_table(write(tmp_path / "in.parquet", "PAR1"))


@pytest.mark.e2e
def test_a_generator_of_dicts_is_read_once_and_every_item_reported(tmp_path: Path) -> None:
    consumed = []

    def rows() -> Any:
        for i in range(1, 6):
            consumed.append(i)
            yield {
                "customer_id": f"G{i}",
                "plan": {"name": "pro"},
                "address": {"city": "Oslo", "country": "NO"},
            }
        yield ["not", "a", "mapping"]

    with SandboxServer() as server:
        summary = run_import(_config(server, tmp_path, rows(), mapping=None))  # guessed from the keys
        assert sorted(server.app.customers) == ["G1", "G2", "G3", "G4", "G5"]
        g1 = server.app.customers["G1"]
        assert g1["billingAddress"] == {"city": "Oslo", "country": "NO"} and g1["name"] is None
    assert consumed == [1, 2, 3, 4, 5]
    assert summary.counts == {"created": 5, "invalid": 1} and summary.input == "rows"
    invalid = [r for r in read_csv(tmp_path / "report" / "results.csv") if r["status"] == "invalid"]
    assert invalid[0]["row"] == "6" and "not a JSON object (an array)" in invalid[0]["error"]


def test_inputs_that_are_no_source_are_refused(tmp_path: Path) -> None:
    for bad in ({"customer_id": "A"}, b"id\n1\n", 42):
        with pytest.raises(UsageError, match="takes a path, a pandas DataFrame or an iterable"):
            validate(ImportConfig(input=bad, dry_run=True, report_dir=tmp_path / "r"))  # type: ignore[arg-type]


@pytest.mark.e2e
def test_arun_import_inside_asyncio_run_keeps_the_hosts_sigterm_handler(tmp_path: Path) -> None:
    frame = _frame()
    calls: list[int] = []

    def host_handler(signum: int, frame: Any) -> None:
        calls.append(signum)

    async def host() -> tuple[Any, Any]:
        summary = await arun_import(config)
        during = signal.getsignal(signal.SIGTERM)
        proof = await averify(replace(config, report_dir=tmp_path / "proof"))
        assert proof.counts == {"invalid": 1, "match": 3}
        again = await arun_import(replace(config, report_dir=tmp_path / "again"), handle_signals=True)
        assert again.counts == {"unchanged": 3, "invalid": 1}  # no journal: kelviq's list shows them
        return summary, during

    previous = signal.signal(signal.SIGTERM, host_handler)
    try:
        with SandboxServer() as server:
            config = _config(server, tmp_path, frame)
            summary, during = asyncio.run(host())
        assert summary.counts == {"created": 3, "invalid": 1}
        assert during is host_handler
        assert signal.getsignal(signal.SIGTERM) is host_handler
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- values JSON can hold that no customer field can (issues 20 and 21) -------------------------


def test_json_values_that_cannot_be_sent_make_their_row_invalid(tmp_path: Path) -> None:
    """Each of these was sent as something else, or stopped the whole file: now each is its
    own invalid row with its reason, and the rows around it read as before."""
    deep = '{"id": "D", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    big = '{"id": "B", "name": "' + "x" * (17 << 20) + '"}'
    lines = [
        '{"id": 12345678901234567.0, "name": "exact"}',
        '{"id": "N", "name": NaN}',
        '{"id": "I", "name": -Infinity}',
        '{"id": "E", "name": 1e400}',
        '{"id": "K", "name": "first", "name": "second"}',
        '{"id": "S", "name": "M\\ud83d"}',
        deep,
        big,
        '{"id": "ok", "score": 1.50, "tiny": 2.5e-3, "list": [1.5, 2]}',
    ]
    path = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    got = {row: (cells, problem) for row, cells, problem in rows_of(path)}
    assert got[1][0][0] == "12345678901234567" and got[1][1] is None  # the digits the file holds
    assert "NaN or Infinity" in (got[2][1] or "") and "NaN or Infinity" in (got[3][1] or "")
    assert "too large" in (got[4][1] or "")
    assert "same key twice" in (got[5][1] or "")
    assert "half of a character" in (got[6][1] or "")
    assert "nested too deeply" in (got[7][1] or "")
    assert "larger than 16 MB" in (got[8][1] or "")
    ok = dict(zip(open_table(path).columns, got[9][0], strict=True))
    assert (ok["score"], ok["tiny"], ok["list"], got[9][1]) == ("1.50", "0.0025", "[1.5, 2]", None)


@pytest.mark.e2e  # starts a process or a sandbox
def test_a_broken_string_in_one_line_leaves_the_others_to_import(tmp_path: Path) -> None:
    """Issue 21, case 1: a lone surrogate once ended the run with an internal error (exit 70)
    and no results. Relies on: the sandbox's POST creating customers."""
    lines = [f'{{"id": "C{i}", "name": "Name {i}"}}' for i in range(50)]
    lines[7] = '{"id": "C7", "name": "Cut \\ud83d"}'
    path = write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")
    with SandboxServer() as server:
        config = ImportConfig(
            input=path, base_url=server.base_url, api_key=DEFAULT_KEY, rate=None, report_dir=tmp_path / "r"
        )
        summary = run_import(config)
        assert summary.counts == {"created": 49, "invalid": 1} and summary.exit_code == 1
        from_api = run_import(
            replace(
                config,
                input=[{"id": "P1", "name": "Cut \ud83d"}, {"id": "P2", "name": "Fine"}],
                report_dir=tmp_path / "p",
            )
        )
        assert from_api.counts == {"created": 1, "invalid": 1}
    failed = read_csv(tmp_path / "r" / "failed.csv")
    assert [r["kelviq_import_row"] for r in failed] == ["8"]
    assert "half of a character" in failed[0]["kelviq_import_error"]


def test_a_json_array_nested_too_deeply_is_one_line_naming_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "in.json", '[{"id": "A"},\n{"id": "B", "x": ' + "[" * 100_000 + "]" * 100_000 + "}]"
    )
    with pytest.raises(InputError, match=r"line 2: not valid JSON \(an element is nested too deeply"):
        list(open_table(path).rows())
