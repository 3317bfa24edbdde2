"""A database as the input (database.py): a table or a query, through SQLAlchemy, here on SQLite
(a file: no server). API behaviour relied on: the sandbox's POST creating customers as sent."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from importer.config import ImportConfig
from importer.database import DatabaseSource
from importer.errors import InputError, RunAborted
from importer.pipeline import run_import
from importer.sandbox import DEFAULT_KEY, SandboxServer
from importer.validate import validate
from importer.verify import verify
from tests.helpers import read_csv

pytestmark = pytest.mark.e2e


def legacy(tmp_path: Path, n: int = 5) -> Path:
    """A desktop application's SQLite file: integers, numerics, dates and NULLs."""
    path = tmp_path / "legacy.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (kundennr INTEGER, firma TEXT, email TEXT, umsatz NUMERIC, seit DATE)")
    rows = [
        (i, f"Firma {i}", f"k{i}@example.com", "1234.50", dt.date(2024, 2, 29).isoformat()) for i in range(n)
    ]
    rows.append((n, None, "not-an-email", None, None))
    db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return path


def test_a_table_imports_with_its_values_as_a_person_reads_them(tmp_path: Path) -> None:
    url = f"sqlite:///{legacy(tmp_path)}"
    with SandboxServer() as server:
        config = ImportConfig(
            input=DatabaseSource(url, table="customers"), base_url=server.base_url, api_key=DEFAULT_KEY,
            rate=None, report_dir=tmp_path / "r", use_journal=False,
        )  # fmt: skip
        summary = run_import(config)
        assert summary.counts == {"created": 5, "invalid": 1}
        record = server.app.customers["3"]  # an INTEGER id: "3", never "3.0"
        assert record["name"] == "Firma 3"
        assert summary.input == f"{url} (table customers)"
        # failed.csv holds the result's columns, so a person fixes it as a CSV and feeds it back.
        failed = read_csv(tmp_path / "r" / "failed.csv")
        assert list(failed[0])[:5] == ["kundennr", "firma", "email", "umsatz", "seit"]
        assert failed[0]["kelviq_import_row"] == "6"  # its position in the result
        checked = verify(ImportConfig(input=DatabaseSource(url, table="customers"), base_url=server.base_url,
                                      api_key=DEFAULT_KEY, rate=None, report_dir=tmp_path / "v"))  # fmt: skip
        assert checked.counts == {"match": 5, "invalid": 1}


def test_a_query_over_an_engine_with_limit_and_shard(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(f"sqlite:///{legacy(tmp_path, 40)}")
    query = "SELECT kundennr AS id, firma AS name, umsatz FROM customers WHERE firma IS NOT NULL"
    checked = validate(
        ImportConfig(input=DatabaseSource(engine, query=query), dry_run=True, report_dir=tmp_path / "v")
    )
    assert checked.summary.counts == {"valid": 40}
    shards = [
        validate(
            ImportConfig(
                input=DatabaseSource(engine, query=query),
                dry_run=True,
                shard=f"{k}/3",
                report_dir=tmp_path / f"s{k}",
            )
        )
        for k in range(3)
    ]
    assert sum(s.summary.rows for s in shards) == 40
    engine.dispose()


def test_values_of_every_kind_read_as_text(tmp_path: Path) -> None:
    from importer.readers.records import value_text

    assert [value_text(v) for v in (7, 7.0, Decimal("1234.50"), dt.date(2024, 2, 29), None)] == [
        "7", "7", "1234.50", "2024-02-29", "",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--table", "nope"], 2, "no such table 'nope'"),
        (["--query", "SELEC x"], 2, "the database refused the query"),
        (["--table", "customers", "--query", "SELECT 1"], 2, "--table NAME or --query SQL (one of them)"),
        ([], 2, "--table NAME or --query SQL"),
    ],
)
def test_database_errors_are_one_line(tmp_path: Path, args: list[str], code: int, says: str) -> None:
    url = f"sqlite:///{legacy(tmp_path)}"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", url, *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == code and says in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_password_in_the_url_is_never_shown(tmp_path: Path) -> None:
    """Relies on no server: the PostgreSQL driver is not installed here (or the port is closed)."""
    url = "postgresql://importer:s3cr3t-pw@127.0.0.1:1/crm"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", url, "--table", "t", "--report-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (2, 3) and "s3cr3t-pw" not in done.stderr + done.stdout, done.stderr
    assert "importer:***@127.0.0.1:1/crm" in done.stderr
    assert "s3cr3t-pw" not in repr(DatabaseSource(url, table="t"))


def test_the_mapping_file_names_the_database_so_the_cron_line_is_short(tmp_path: Path) -> None:
    """`validate db --mapping M`: the URL from the file [input] url_file names, the query from
    query_file, both relative to the mapping; a flag still wins over the mapping."""
    (tmp_path / "db-url").write_text(f"sqlite:///{legacy(tmp_path)}\n", encoding="utf-8")
    (tmp_path / "db-url").chmod(0o600)
    (tmp_path / "customers.sql").write_text("SELECT * FROM customers WHERE kundennr < 3", encoding="utf-8")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[input]\nurl_file = "db-url"\nquery_file = "customers.sql"\n\n'
        '[fields]\ncustomerId = "kundennr"\nemail = "email"\nname = "firma"\n',
        encoding="utf-8",
    )

    def validate_db(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "importer", "validate", "db", "--mapping", str(mapping), *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",  # the mapping's own directory, not the working one, anchors its paths
            env={k: v for k, v in os.environ.items() if k != "KELVIQ_IMPORT_DB_URL"},
        )

    done = validate_db("--report-dir", str(tmp_path / "r1"))
    assert done.returncode == 0 and "3 valid" in done.stdout, done.stdout + done.stderr
    done = validate_db("--table", "customers", "--report-dir", str(tmp_path / "r2"))
    assert done.returncode == 1 and "5 valid, 1 invalid" in done.stdout, done.stdout + done.stderr


def test_a_database_url_file_keeps_the_password_out_of_every_output(tmp_path: Path) -> None:
    """Relies on no server: port 1 is closed, so the run stops at the connection (exit 3)."""
    secret = tmp_path / "db-url"
    secret.write_text("postgresql://importer:s3cr3t-pw@127.0.0.1:1/crm\n", encoding="utf-8")
    secret.chmod(0o644)
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", "db", "--db-url-file", str(secret), "--table", "t"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode in (2, 3) and "s3cr3t-pw" not in done.stdout + done.stderr, done.stderr
    assert "importer:***@127.0.0.1:1/crm" in done.stderr
    assert f"warning: {secret} is readable by other users; chmod 600 it" in done.stderr


def test_a_password_written_into_the_mapping_file_is_refused(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[input]\nurl = "postgresql://importer:s3cr3t-pw@db.internal/crm"\ntable = "customers"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "importer", "validate", "db", "--mapping", str(mapping)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "s3cr3t-pw" not in done.stdout + done.stderr
    assert "[input] url holds a password; put the URL in a file named by url_file" in done.stderr


def test_an_unreachable_database_is_exit_3(tmp_path: Path) -> None:
    source = DatabaseSource(f"sqlite:///{tmp_path}/no/such/dir/x.db", table="t")
    with pytest.raises(RunAborted, match="cannot reach the database"):
        validate(ImportConfig(input=source, dry_run=True))
    with pytest.raises(InputError, match=r"SQLAlchemy knows no database 'notadb'"):
        validate(ImportConfig(input=DatabaseSource("notadb://", table="t"), dry_run=True))


# --- a real PostgreSQL (the session's throwaway server: conftest.postgres) ---------------------


def _pg(url: str, *statements: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sqlalchemy.text(statement))
    engine.dispose()


def test_postgres_null_heavy_table_imports_as_a_person_reads_it(postgres: str, tmp_path: Path) -> None:
    """Numeric, date, timestamp and text columns with NULLs, read through psycopg's server-side
    cursor; every column carried into metadata so that each value's text is seen in kelviq."""
    _pg(
        postgres,
        "DROP TABLE IF EXISTS crm",
        "CREATE TABLE crm (nr integer, firma text, umsatz numeric(12,2), seit date, "
        "geaendert timestamp, notiz text)",
        "INSERT INTO crm VALUES (1, 'Acme', 1234.50, '2024-02-29', '2024-03-01 12:30:00', NULL), "
        "(2, NULL, NULL, NULL, NULL, NULL), (3, 'Zeta', 0.10, '1999-12-31', NULL, 'ok')",
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        '[fields]\ncustomerId = "nr"\nname = "firma"\n\n[other_columns]\nto_metadata = true\n',
        encoding="utf-8",
    )
    with SandboxServer() as server:
        summary = run_import(
            ImportConfig(
                input=DatabaseSource(postgres, query="SELECT * FROM crm ORDER BY nr"), mapping=mapping,
                base_url=server.base_url, api_key=DEFAULT_KEY, rate=None, report_dir=tmp_path / "r",
                use_journal=False,
            )
        )  # fmt: skip
        assert summary.counts == {"created": 3}
        acme = server.app.customers["1"]
        assert acme["metadata"] == {
            "umsatz": "1234.50", "seit": "2024-02-29", "geaendert": "2024-03-01T12:30:00",
        }  # fmt: skip
        assert server.app.customers["2"]["metadata"] == {} and server.app.customers["2"].get("name") is None
        assert server.app.customers["3"]["metadata"]["umsatz"] == "0.10"
        checked = verify(
            ImportConfig(
                input=DatabaseSource(postgres, table="crm"), mapping=mapping, base_url=server.base_url,
                api_key=DEFAULT_KEY, rate=None, report_dir=tmp_path / "v",
            )
        )  # fmt: skip
        assert checked.exit_code == 0 and checked.counts == {"match": 3}
    assert "postgres@" in summary.input and "(query)" in summary.input


def test_postgres_streams_100000_rows_in_flat_memory(postgres: str, tmp_path: Path) -> None:
    _pg(
        postgres,
        "DROP TABLE IF EXISTS big",
        "CREATE TABLE big AS SELECT g AS id, 'Customer ' || g AS name, 'c' || g || '@example.com' AS email, "
        "(g % 1000)::numeric / 10 AS score, DATE '2020-01-01' + (g % 365) AS since "
        "FROM generate_series(1, 100000) g",
    )
    script = (
        "import sys; from importer import ImportConfig, validate; "
        "from importer.database import DatabaseSource; "
        "v = validate(ImportConfig(input=DatabaseSource(sys.argv[1], table='big'), dry_run=True, "
        "report_dir=sys.argv[2])); print(v.summary.counts['valid']); "
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, postgres, str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    valid, peak_kb = (int(x) for x in done.stdout.split())
    assert valid == 100_000
    assert peak_kb < 150 * 1024, f"peak {peak_kb // 1024} MB for 100,000 rows"  # flat: rows are streamed
