"""The gateway's version: the one in pyproject.toml, read once (the project runs from its tree, uninstalled)."""

from __future__ import annotations

import tomllib
from pathlib import Path

with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as _file:
    VERSION: str = tomllib.load(_file)["project"]["version"]
