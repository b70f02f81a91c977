"""The context store's plain cursor (context.sql): Django's placeholders on either database, and failures that
still reach Django's connection handling."""

from __future__ import annotations

import pytest
from django.db import ProgrammingError, close_old_connections, connection, transaction
from django.db.utils import OperationalError

from context.sql import plain_cursor


@pytest.mark.django_db(transaction=True)
def test_statements_take_django_placeholders_and_join_the_current_transaction() -> None:
    with plain_cursor() as cursor:
        assert cursor.execute("SELECT %s + %s", [2, 3]).fetchone() == (5,)
    with pytest.raises(RuntimeError), transaction.atomic():
        with plain_cursor() as cursor:
            cursor.execute("INSERT INTO context_searchterm (term, docs) VALUES (%s, %s)", ["plaincursor", 1])
        raise RuntimeError("rolled back")
    with plain_cursor() as cursor:
        assert cursor.execute("SELECT count(*) FROM context_searchterm WHERE term = %s",
                              ["plaincursor"]).fetchone() == (0,)


@pytest.mark.django_db(transaction=True)
def test_a_failed_statement_is_a_django_error_that_marks_the_connection_for_a_check() -> None:
    close_old_connections()
    with pytest.raises((OperationalError, ProgrammingError)), plain_cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_here")
    assert connection.errors_occurred  # close_old_connections() checks it before the thread's next statement
    close_old_connections()
    assert not connection.errors_occurred  # still usable: kept
    with plain_cursor() as cursor:
        assert cursor.execute("SELECT 1").fetchone() == (1,)
