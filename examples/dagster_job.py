"""Dagster: the customer import as an op, its counts and report as output metadata.

The ``kelviq`` resource carries the API key and base URL (from the environment in the job
below). Exit codes 0 and 1 are a finished run (1: rows to fix, listed in failed.csv); 2 and 3
(bad input, refused key, error budget) raise ``Failure``. An async op would use
``await arun_import(...)`` instead: ``run_import`` refuses to run inside an event loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import Failure, MetadataValue, OpExecutionContext, op


@op(required_resource_keys={"kelviq"})
def import_customers(context: OpExecutionContext, export_path: str) -> dict[str, int]:
    from importer import ImportConfig, run_import

    kelviq: Any = context.resources.kelviq
    summary = run_import(
        ImportConfig(
            input=Path(export_path),
            base_url=kelviq.base_url,
            api_key=kelviq.api_key,
            mapping=Path(kelviq.mapping) if kelviq.mapping else None,
            journal=Path(kelviq.journal) if kelviq.journal else None,
            report_root=Path(kelviq.reports) if kelviq.reports else None,
            max_failures=100,
        )
    )
    context.add_output_metadata(
        {
            "counts": summary.counts,
            "report": MetadataValue.path(str(Path(summary.report_dir) / "report.html")),
        }
    )
    if summary.exit_code >= 2:
        raise Failure(description=f"kelviq import aborted: {summary.aborted}")
    return summary.counts
