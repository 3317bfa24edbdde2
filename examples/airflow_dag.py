"""Airflow (TaskFlow API): the nightly customer import as one task.

The import retries its own requests and is idempotent (journal, or kelviq's own list on a
worker with no disk), so the task itself is not retried blindly: a second attempt would only
repeat what the first one reported. Exit codes 0 and 1 are a finished run (1: some rows to fix,
listed in failed.csv); 2 and 3 (bad input, refused key, error budget) fail the task.

Airflow Variables: ``kelviq_api_key``; ``kelviq_base_url`` (optional, the production API by
default). Copy this file into your DAGs folder and adjust the paths.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException
from airflow.models import Variable

MAPPING = Path(__file__).with_name("kelviq-mapping.toml")
# On a worker with a persistent disk the journal makes a re-run send only changes; on an
# ephemeral worker leave it in a temporary place: a new journal lists kelviq's customers first.
JOURNAL = Path("/opt/airflow/state/kelviq-journal.sqlite3")
REPORTS = Path("/opt/airflow/logs/kelviq-import")


@task(retries=0)
def import_customers(
    export_path: str, mapping: str | None = None, journal: str | None = None, reports: str | None = None
) -> dict[str, Any]:
    from importer import ImportConfig, run_import

    summary = run_import(
        ImportConfig(
            input=Path(export_path),
            base_url=Variable.get("kelviq_base_url", default_var="https://api.kelviq.com/api/v1"),
            api_key=Variable.get("kelviq_api_key"),
            mapping=Path(mapping) if mapping else MAPPING,
            journal=Path(journal) if journal else JOURNAL,
            report_root=Path(reports) if reports else REPORTS,
            max_failure_rate=0.05,
        )
    )
    if summary.exit_code >= 2:
        raise AirflowException(f"kelviq import aborted: {summary.aborted} (report {summary.report_dir})")
    return {"counts": summary.counts, "report": summary.report_dir, "exit_code": summary.exit_code}


@dag(schedule="0 2 * * *", start_date=dt.datetime(2026, 1, 1), catchup=False, tags=["kelviq"])
def kelviq_nightly_import() -> None:
    import_customers("/data/exports/customers.csv")


kelviq_nightly_import()
