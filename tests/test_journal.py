"""The journal alone: intents and records, refusals of a wrong or broken file, the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from importer.errors import InputError, RunAborted
from importer.journal import STATE_ENV, Journal, default_state_path, payload_hash

BASE = "https://api.example.test/api/v1"


def test_an_intent_is_written_ahead_and_cleared_by_the_record(tmp_path: Path) -> None:
    digest = payload_hash({"customerId": "c1", "name": "Ada"})
    with Journal.open(tmp_path / "j.sqlite3", base_url=BASE) as journal:
        journal.record_intents([("c1", digest)])
        assert journal.intent("c1") == digest and journal.get("c1") is None
        journal.record("c1", digest, "uuid-1")
        assert journal.intent("c1") is None
        entry = journal.get("c1")
        assert entry is not None and entry.payload_hash == digest and entry.kelviq_id == "uuid-1"
    with Journal.open(tmp_path / "j.sqlite3", base_url=BASE) as journal:  # it survives a reopen
        assert len(journal) == 1


def test_payload_hash_ignores_key_order() -> None:
    assert payload_hash({"a": "1", "b": "2"}) == payload_hash({"b": "2", "a": "1"})
    assert payload_hash({"a": "1"}) != payload_hash({"a": "2"})


def test_a_journal_of_another_api_is_refused(tmp_path: Path) -> None:
    Journal.open(tmp_path / "j.sqlite3", base_url=BASE).close()
    with pytest.raises(InputError, match=r"is the journal of https://api\.example\.test"):
        Journal.open(tmp_path / "j.sqlite3", base_url="https://other.test/api/v1")


@pytest.mark.parametrize(
    "spelling",
    [
        "https://api.example.test/api/v1/",
        "HTTPS://API.example.test/api/v1",
        "https://api.example.test:443/api/v1//",
    ],
)
def test_the_same_api_spelled_otherwise_keeps_its_journal(tmp_path: Path, spelling: str) -> None:
    """Issue 20, case 4: a trailing slash, an upper-case scheme or host, or the default port
    is the same API: the same journal, found under the same default name."""
    from importer.config import ImportConfig

    config = ImportConfig(input="x.csv", base_url=spelling, api_key="k")
    assert config.base_url == BASE
    assert default_state_path(config.base_url) == default_state_path(BASE)
    Journal.open(tmp_path / "j.sqlite3", base_url=BASE).close()
    Journal.open(tmp_path / "j.sqlite3", base_url=spelling).close()  # not refused
    with pytest.raises(InputError, match="--journal") as refused:
        Journal.open(tmp_path / "j.sqlite3", base_url="https://other.test/api/v1")
    assert "--state" not in str(refused.value)


def test_a_corrupt_journal_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "j.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(InputError, match="not a usable journal"):
        Journal.open(tmp_path / "j.sqlite3", base_url=BASE)


@pytest.mark.e2e  # starts a process or a sandbox
def test_a_second_holder_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.sqlite3", base_url=BASE):
        holder = subprocess.run(
            [sys.executable, "-c",
             "import sys; from pathlib import Path; from importer.journal import Journal\n"
             "try:\n    Journal.open(Path(sys.argv[1]), base_url=sys.argv[2])\n"
             "except Exception as exc:\n    print(type(exc).__name__, exc)",
             str(tmp_path / "j.sqlite3"), BASE],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert holder.stdout.startswith("RunAborted") and "pid" in holder.stdout
    with Journal.open(tmp_path / "j.sqlite3", base_url=BASE):  # released with its holder
        pass
    assert issubclass(RunAborted, Exception)


@pytest.mark.e2e  # starts a process or a sandbox
def test_the_package_imports_where_there_is_no_fcntl() -> None:
    """Windows has no fcntl: the journal locks with msvcrt there, and nothing imports fcntl
    at import time (finance users with Excel exports are often on Windows)."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import importer, importer.journal, importer.pipeline, importer.cli, importer.verify\n"
        "print('imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "imported", out.stderr


def test_one_directory_for_all_users_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path))
    assert default_state_path("http://127.0.0.1:8765/api/v1") == tmp_path / "127.0.0.1_8765_api_v1.sqlite3"
    monkeypatch.delenv(STATE_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path(BASE).parent == tmp_path / "xdg" / "kelviq-import"


def test_a_planted_lock_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    """Issue 21, case 2: the lock was opened following links and truncated."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    (tmp_path / "j.sqlite3.lock").symlink_to(victim)
    with pytest.raises(InputError, match=r"lock file .* is a symbolic link") as refused:
        Journal.open(tmp_path / "j.sqlite3", base_url=BASE)
    assert "\n" not in str(refused.value)
    assert victim.read_text(encoding="utf-8") == "precious" and not (tmp_path / "j.sqlite3").exists()


def test_another_programs_database_is_refused_byte_for_byte_untouched(tmp_path: Path) -> None:
    """Issue 21, case 7: it used to get a column, a meta table and WAL mode, then a traceback."""
    import sqlite3

    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(InputError, match="an SQLite database of another program"):
        Journal.open(other, base_url=BASE)
    assert other.read_bytes() == before and not Path(f"{other}-wal").exists()


def test_a_journal_named_through_a_link_is_locked_as_the_file_itself(tmp_path: Path) -> None:
    """Issue 21, case 13: the lock was named after the path as given, so two runs could share
    one journal through a link."""
    real = tmp_path / "j.sqlite3"
    link = tmp_path / "alias.sqlite3"
    link.symlink_to(real)
    with Journal.open(real, base_url=BASE), pytest.raises(RunAborted, match="is using the journal"):
        Journal.open(link, base_url=BASE)
