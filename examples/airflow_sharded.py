"""Airflow dynamic task mapping: one export imported by N mapped tasks, each its share.

``import_shard.partial(...).expand(shard=...)`` makes one task instance per shard; each runs
``--shard K/N`` (by customerId hash), so the N together import every row exactly once, and each
has its own report and journal. Their pacers share the account's limit without a coordinator.
Airflow Variables as in airflow_dag.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.decorators import dag, task
from airflow.exceptions import AirflowException
from airflow.models import Variable

SHARDS = 4
MAPPING = Path(__file__).with_name("kelviq-mapping.toml")
STATE = Path("/opt/airflow/state")  # each shard's journal is named after its share in here
REPORTS = Path("/opt/airflow/logs/kelviq-import")


@task(retries=0)
def import_shard(  # noqa: PLR0917 - Airflow passes mapped and partial arguments by name
    export_path: str,
    shard: int,
    shards: int = SHARDS,
    mapping: str | None = None,
    state: str | None = None,
    reports: str | None = None,
) -> dict[str, Any]:
    from importer import ImportConfig, run_import
    from importer.config import Shard
    from importer.journal import default_state_path

    base_url = Variable.get("kelviq_base_url", default_var="https://api.kelviq.com/api/v1")
    share = Shard(shard, shards)
    summary = run_import(
        ImportConfig(
            input=Path(export_path),
            base_url=base_url,
            api_key=Variable.get("kelviq_api_key"),
            mapping=Path(mapping) if mapping else MAPPING,
            shard=share,
            journal=Path(state or STATE) / default_state_path(base_url, share).name,
            report_root=Path(reports) if reports else REPORTS,
        )
    )
    if summary.exit_code >= 2:
        raise AirflowException(f"kelviq import of shard {share} aborted: {summary.aborted}")
    return {"shard": str(share), "counts": summary.counts, "report": summary.report_dir}


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False, tags=["kelviq"])
def kelviq_sharded_migration() -> None:
    import_shard.partial(export_path="/data/exports/customers.csv").expand(shard=list(range(SHARDS)))


kelviq_sharded_migration()
