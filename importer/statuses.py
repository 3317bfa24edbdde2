"""What can become of a row, and the colour each outcome is shown in (terminal and report.html)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["STATUSES", "STATUS_COLOURS", "Status"]

# not_sent: never tried because the run stopped (interrupt, refused key, unreachable API, error
# budget, --limit); not a row to fix: running the same command again sends it.
Status = Literal["created", "updated", "unchanged", "valid", "skipped", "invalid", "failed", "not_sent"]
STATUSES: tuple[Status, ...] = get_args(Status)
# One colour per status, for the terminal (rich takes hex) and report.html alike.
STATUS_COLOURS: dict[str, str] = {
    "created": "#2e7d32",
    "updated": "#1565c0",
    "unchanged": "#78909c",
    "valid": "#43a047",
    "skipped": "#b0bec5",
    "invalid": "#ef6c00",
    "failed": "#c62828",
    "not_sent": "#8d6e63",
}
