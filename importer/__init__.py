"""kelviq-import: bulk-import customers from CSV or Excel into kelviq."""

from __future__ import annotations

__version__ = "0.1.0"
