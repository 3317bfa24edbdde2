"""The examples under examples/ are imported and run here, so they cannot rot.

Airflow and Dagster are used when installed; otherwise examples/standins.py (documented there)
stands in for the few names the examples use. API behaviour relied on: the sandbox's (201 on
create, 401 for a wrong key).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox import DEFAULT_KEY, SandboxServer
from tests.helpers import ROOT, SAMPLE

pytestmark = pytest.mark.e2e

EXAMPLES = ROOT / "examples"


def sample_head(tmp_path: Path) -> str:
    """The sample's first 30 rows (one of them invalid): at the default rate, 3 s a run."""
    lines = (SAMPLE / "customers.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "customers.csv"
    path.write_text("".join(lines[:31]), encoding="utf-8")
    return str(path)


def load(name: str, monkeypatch: pytest.MonkeyPatch, *needs: str) -> types.ModuleType:
    """Import examples/<name>.py, with the stand-ins for whichever of ``needs`` is missing."""
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    standins = importlib.util.spec_from_file_location("examples_standins", EXAMPLES / "standins.py")
    assert standins is not None and standins.loader is not None
    for package in needs:
        if importlib.util.find_spec(package) is None:
            stand = importlib.util.module_from_spec(standins)
            standins.loader.exec_module(stand)
            # Every module the stand-in creates is put back as it was after the test.
            for key in [k for k in sys.modules if k == package or k.startswith(package + ".")]:
                monkeypatch.delitem(sys.modules, key)
            before = set(sys.modules)
            getattr(stand, f"install_{package}")()
            for key in set(sys.modules) - before:
                monkeypatch.setitem(sys.modules, key, sys.modules[key])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sandbox() -> Any:
    with SandboxServer() as server:
        yield server


def test_the_airflow_task_imports_and_fails_only_on_an_abort(sandbox, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AIRFLOW_VAR_KELVIQ_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("AIRFLOW_VAR_KELVIQ_BASE_URL", sandbox.base_url)
    example = load("airflow_dag", monkeypatch, "airflow")
    run = example.import_customers.function  # the task's own function, as Airflow runs it
    kw = {"journal": str(tmp_path / "j.sqlite3"), "reports": str(tmp_path / "reports")}
    mapping = str(SAMPLE / "mapping.example.toml")
    export = sample_head(tmp_path)
    result = run(export, mapping, **kw)
    assert result["counts"] == {"created": 29, "invalid": 1} and result["exit_code"] == 1
    assert len(sandbox.app.customers) == 29
    assert run(export, mapping, **kw)["counts"] == {"unchanged": 29, "invalid": 1}
    monkeypatch.setenv("AIRFLOW_VAR_KELVIQ_API_KEY", "wrong-key")
    with pytest.raises(Exception, match=r"kelviq import aborted: .*401") as info:
        run(export, mapping, **{**kw, "journal": str(tmp_path / "other.sqlite3")})
    assert type(info.value).__name__ == "AirflowException"


def test_the_dagster_op_imports_and_reports_its_metadata(sandbox, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    example = load("dagster_job", monkeypatch, "dagster")
    import dagster

    kelviq = types.SimpleNamespace(
        base_url=sandbox.base_url, api_key=DEFAULT_KEY, mapping=str(SAMPLE / "mapping.example.toml"),
        journal=str(tmp_path / "j.sqlite3"), reports=str(tmp_path / "reports"),
    )  # fmt: skip
    context = dagster.build_op_context(resources={"kelviq": kelviq})
    counts = example.import_customers(context, sample_head(tmp_path))
    assert counts == {"created": 29, "invalid": 1}
    if hasattr(context, "output_metadata"):  # the stand-in keeps it
        assert context.output_metadata["counts"] == counts
        assert str(context.output_metadata["report"][1]).endswith("report.html")


def test_the_async_example_runs_inside_an_event_loop(sandbox, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pd = pytest.importorskip("pandas", reason="pandas is the [pandas] extra")
    example = load("async_import", monkeypatch)
    frame = pd.read_csv(sample_head(tmp_path), dtype=str)
    summary = asyncio.run(
        example.import_frame(frame, base_url=sandbox.base_url, api_key=DEFAULT_KEY, reports=tmp_path)
    )
    assert summary.counts == {"created": 29, "invalid": 1} and summary.input == "DataFrame"
