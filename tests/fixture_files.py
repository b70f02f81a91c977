"""Where the recorded provider samples live: inside the project (tests/fixtures/, sources in SOURCES.md).

A missing file fails the test that needs it, loudly: the suite never skips for lack of data.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WIRE = FIXTURES / "wire"
CATALOGUES = FIXTURES / "catalogues"
LEADERBOARDS = FIXTURES / "leaderboards"
