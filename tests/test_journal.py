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
