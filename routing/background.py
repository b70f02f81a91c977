"""One dedicated thread for the gateway's own DB work (snapshot loads, usage batches).

Not Django's per-request thread-sensitive executor: background tasks outlive the request that
started them, and a long-lived thread keeps one DB connection instead of opening one per request.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async

P = ParamSpec("P")
R = TypeVar("R")

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-db")


async def run_in_db_thread(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return await sync_to_async(func, thread_sensitive=False, executor=_executor)(*args, **kwargs)


def close_db_thread_connections() -> None:
    """Close the DB thread's connections (process shutdown, or before a test database is dropped)."""
    from django.db import connections

    _executor.submit(connections.close_all).result(timeout=10)
