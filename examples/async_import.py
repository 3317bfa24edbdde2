"""Inside an event loop (Jupyter, an async task, a web handler): ``await arun_import(...)``.

The source here is a pandas DataFrame (``pip install 'kelviq-import[pandas]'``); a path or a
list of dicts works the same. In a notebook cell, ``summary = await import_frame(df, ...)``;
from a script, ``asyncio.run(...)`` as below. The host's signal handlers are left alone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from importer import ImportConfig, Summary, arun_import


async def import_frame(frame: Any, *, base_url: str, api_key: str, reports: Path | None = None) -> Summary:
    summary = await arun_import(
        ImportConfig(input=frame, base_url=base_url, api_key=api_key, report_root=reports)
    )
    print(f"{summary.counts}; report {summary.report_dir}")
    return summary


def main() -> int:
    import pandas as pd

    frame = pd.read_csv(sys.argv[1], dtype=str)
    base_url = os.environ.get("KELVIQ_BASE_URL", "http://127.0.0.1:8765/api/v1")
    summary = asyncio.run(import_frame(frame, base_url=base_url, api_key=os.environ["KELVIQ_API_KEY"]))
    return summary.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
