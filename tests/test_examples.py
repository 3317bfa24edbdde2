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
        if not _installed(package):
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


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ValueError:  # a stand-in of an earlier test, still in sys.modules (no __spec__)
        return False


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


def test_the_airflow_mapped_shards_import_every_row_once(sandbox, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 19: Airflow's dynamic task mapping (.expand) over --shard K/N."""
    monkeypatch.setenv("AIRFLOW_VAR_KELVIQ_API_KEY", DEFAULT_KEY)
    monkeypatch.setenv("AIRFLOW_VAR_KELVIQ_BASE_URL", sandbox.base_url)
    example = load("airflow_sharded", monkeypatch, "airflow")
    export, mapping = sample_head(tmp_path), str(SAMPLE / "mapping.example.toml")
    results = [
        example.import_shard.function(
            export, shard, mapping=mapping, state=str(tmp_path / "state"), reports=str(tmp_path / "r")
        )
        for shard in range(example.SHARDS)
    ]
    created = sum(r["counts"].get("created", 0) for r in results)
    invalid = sum(r["counts"].get("invalid", 0) for r in results)
    assert (created, invalid) == (29, 1) and len(sandbox.app.customers) == 29
    assert len(list((tmp_path / "state").glob("*.sqlite3"))) == example.SHARDS


def test_the_kubernetes_indexed_job_covers_every_row_once(sandbox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The Indexed Job manifest parses, and its command, run for every completion index as
    Kubernetes would expand it, imports every row exactly once."""
    import os
    import subprocess

    import yaml

    job = yaml.safe_load((EXAMPLES / "k8s-indexed-job.yaml").read_text(encoding="utf-8"))
    spec = job["spec"]
    assert (job["kind"], spec["completionMode"]) == ("Job", "Indexed")
    assert spec["completions"] == spec["parallelism"] == 4
    container = spec["template"]["spec"]["containers"][0]
    assert container["command"] == ["kelviq-import"]
    env_names = {e["name"] for e in container["env"]}
    assert {"KELVIQ_API_KEY", "KELVIQ_BASE_URL", "KELVIQ_IMPORT_STATE"} <= env_names
    export = sample_head(tmp_path)
    paths = {"/data/customers.csv": export, "/data/mapping.toml": str(SAMPLE / "mapping.example.toml")}
    for index in range(spec["completions"]):
        args = [a.replace("$(JOB_COMPLETION_INDEX)", str(index)) for a in container["args"]]
        args = [paths.get(a, str(tmp_path / "reports") if a == "/reports" else a) for a in args]
        env = {
            "PATH": os.environ.get("PATH", ""),
            "KELVIQ_API_KEY": DEFAULT_KEY,
            "KELVIQ_BASE_URL": sandbox.base_url,
            "KELVIQ_IMPORT_STATE": str(tmp_path / "state"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "importer", *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode in (0, 1), done.stderr
    assert len(sandbox.app.customers) == 29 and max(sandbox.app.creates_by_id.values()) == 1
    assert len(list((tmp_path / "state").glob("*.sqlite3"))) == 4


def test_the_operations_examples_are_wired_to_the_metrics_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 24: the crontab line, the systemd units, the CronJob and the alert rules are
    checked: the command each runs is one this CLI takes, with the metrics file wired, and every
    metric the alerts name is one the metrics file holds."""
    import configparser
    import re
    import shlex
    import shutil
    import subprocess

    import yaml
    from click.testing import CliRunner

    from importer.cli import main
    from importer.metrics import RunMetrics, write_metrics

    commands: list[list[str]] = []
    cron = [line for line in (EXAMPLES / "crontab").read_text().splitlines() if line and line[0] != "#"]
    commands.append(shlex.split(cron[0].split(">>")[0])[5:])  # after the five schedule fields
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(EXAMPLES / "kelviq-import.service")
    assert unit["Service"]["Type"] == "oneshot" and unit["Service"]["SuccessExitStatus"] == "1"
    commands.append(shlex.split(unit["Service"]["ExecStart"])[1:])
    timer = configparser.ConfigParser()
    timer.read(EXAMPLES / "kelviq-import.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"
    cronjob = yaml.safe_load((EXAMPLES / "k8s-cronjob.yaml").read_text())
    assert cronjob["kind"] == "CronJob" and cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    commands.append(container["args"])
    run_params = {o for p in main.commands["run"].params for o in p.opts}
    for given in commands:
        command = given[1:] if given[0].endswith("kelviq-import") else given
        assert command[0] == "run" and "--metrics-file" in command, command
        assert {a for a in command if a.startswith("--")} <= run_params, command
    assert CliRunner().invoke(main, ["run", "--help"]).exit_code == 0
    if shutil.which("systemd-analyze"):  # Debian's systemd: the units as systemd itself reads them
        units = [str(EXAMPLES / "kelviq-import.timer"), str(EXAMPLES / "kelviq-import.service")]
        done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
        # The one complaint allowed: this machine has no /usr/local/bin/kelviq-import.
        said = [line for line in done.stderr.splitlines() if "kelviq-import" in line]
        assert all("is not executable" in line for line in said), said
    # The alert rules name only metrics the file holds.
    prom = tmp_path / "m.prom"
    write_metrics(prom, RunMetrics(job="customers", exit_code=0, counts={"created": 1}, absent=0))
    written = set(re.findall(r"^(kelviq_import_\w+)", prom.read_text(), re.M))
    rules = yaml.safe_load((EXAMPLES / "alerts.yaml").read_text())["groups"][0]["rules"]
    for rule in rules:
        named = set(re.findall(r"kelviq_import_\w+", rule["expr"]))
        assert named and named <= written, (rule["alert"], named - written)
