"""The driver's own cursor of this thread's Django connection, for the context store's hot statements.

A request's context read runs four short statements and the writer a handful per exchange. Django's cursor
wrapper costs about 10 µs of CPU on each (on SQLite a regex rewrites every `%s`; then error translation and
debug bookkeeping), a fifth of what those statements cost. The statements here keep Django's `%s`
placeholders, rewritten for SQLite by a plain replace (none of them holds a literal `%`), and run in the
connection's current transaction, so `transaction.atomic()` still frames them. Errors still pass through
Django's error wrapper: they are raised as `django.db` errors, and one that may have broken the connection
marks it, so that `close_old_connections()` replaces it before the thread's next statement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


class PlainCursor:
    __slots__ = ("_cursor", "_qmark", "_errors")

    def __init__(self, cursor: Any, qmark: bool, errors: Any) -> None:
        self._cursor, self._qmark, self._errors = cursor, qmark, errors

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PlainCursor:
        with self._errors:
            self._cursor.execute(sql.replace("%s", "?") if self._qmark else sql, params)
        return self

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._errors:
            self._cursor.executemany(sql.replace("%s", "?") if self._qmark else sql, rows)

    def fetchone(self) -> tuple | None:
        with self._errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[tuple]:
        with self._errors:
            return self._cursor.fetchall()

    def fetchmany(self, size: int) -> list[tuple]:
        with self._errors:
            return self._cursor.fetchmany(size)

    def close(self) -> None:
        self._cursor.close()

    def __enter__(self) -> PlainCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain_cursor() -> PlainCursor:
    """A cursor on this thread's connection (opened if needed), to use as a context manager. The connection is
    looked up once: each attribute read through `django.db.connection` is a thread-local lookup of its own."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    if wrapper.connection is None:
        wrapper.ensure_connection()
    with wrapper.wrap_database_errors:
        cursor = wrapper.connection.cursor()
    return PlainCursor(cursor, wrapper.vendor == "sqlite", wrapper.wrap_database_errors)
