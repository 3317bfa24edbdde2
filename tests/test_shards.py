"""--shard K/N: N runners take disjoint shares of one input that together cover it.

API behaviour relied on: the sandbox's POST creating customers (any dialect will do)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from importer.config import Shard
from importer.errors import UsageError
from importer.journal import default_state_path
from importer.sandbox import DEFAULT_KEY, SandboxServer
from tests.helpers import read_csv, write


def test_shards_are_disjoint_cover_every_row_and_never_move() -> None:
    ids = [f"C{i:05d}" for i in range(2000)] + [""] * 10
    for n in (1, 2, 3, 8):
        owners = [[k for k in range(n) if Shard(k, n).holds(cid, row)] for row, cid in enumerate(ids, 2)]
        assert all(len(o) == 1 for o in owners)  # exactly one shard each
        sizes = Counter(o[0] for o in owners)
        assert min(sizes.values()) >= 0.8 * len(ids) / n  # and roughly even
    # Stable across processes and Python versions: blake2b, not the salted hash().
    assert [k for k in range(4) if Shard(k, 4).holds("C00042", 7)] == [0]


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1", "a/b", "0/0"])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        Shard.parse(text)


def test_each_shard_has_its_own_default_journal() -> None:
    base = "https://api.example.test/api/v1"
    names = {default_state_path(base, Shard(k, 3)).name for k in range(3)}
    assert len(names) == 3 and default_state_path(base).name not in names


@pytest.mark.e2e
def test_three_shards_at_once_import_every_row_exactly_once(tmp_path: Path) -> None:
    lines = ["id,name,email"] + [f"S{i:04d},Name {i},s{i}@example.com" for i in range(300)]
    lines += [",no id,x@example.com", "S0001,Duplicate,d@example.com"]
    source = write(tmp_path / "all.csv", "\n".join(lines) + "\n")
    env = {"PATH": os.environ.get("PATH", ""), "KELVIQ_API_KEY": DEFAULT_KEY, "XDG_STATE_HOME": str(tmp_path)}
    with SandboxServer() as server:
        runners = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "importer",
                    "run",
                    str(source),
                    "--base-url",
                    server.base_url,
                    "--shard",
                    f"{k}/3",
                    "--report-dir",
                    str(tmp_path / f"shard{k}"),
                    "--quiet",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for k in range(3)
        ]
        for runner in runners:
            _, err = runner.communicate(timeout=120)
            assert runner.returncode in (0, 1), err  # 1 where a shard holds one of the bad rows
        assert len(server.app.customers) == 299 and max(server.app.creates_by_id.values()) == 1
    rows = [r for k in range(3) for r in read_csv(tmp_path / f"shard{k}" / "results.csv")]
    assert sorted(int(r["row"]) for r in rows) == list(range(2, 304))  # every row, exactly once
    assert Counter(r["status"] for r in rows) == {"created": 299, "invalid": 3}
    journals = list((tmp_path / "kelviq-import").glob("*.sqlite3"))
    assert len(journals) == 3  # one each: run at once, none locked the others out
