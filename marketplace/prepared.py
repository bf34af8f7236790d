"""Statements PostgreSQL plans once per connection: named prepared statements for the
few hot reads whose SQL we build once (the question page's question, All questions' rows,
the poll, the money path's compiled reads).

Django binds parameters on the client (psycopg's ClientCursor) and turns prepared
statements off, so PostgreSQL parses and plans every statement again. For the question
page's four-table read that is 0.2-0.35 ms of planning against 0.05 ms of execution,
measured on the page benchmark's data: more than the page's own Python work above the
floor's. `prepared_cursor()` runs a statement through psycopg's server-side binding with
`prepare=True`: the first run on a connection prepares it (one round trip more, once),
later runs send only its name and values, and PostgreSQL keeps the plan (a generic plan
after five runs, when it is no worse than the custom ones; a statement whose best plan
depends on a value, e.g. a status matching a partial index, should have it in its SQL).

Only statements sent through `prepared_cursor()` are prepared. Everything else keeps
Django's client-side binding (settings.py sets the database's `prepare_threshold` so high
that psycopg never prepares a statement on its own; None, Django's default, would turn
preparing off altogether). psycopg keeps the statements per connection
and forgets them when it sees a ROLLBACK, DISCARD ALL or a schema change, so a reconnect, a
failed transaction or a migration cannot leave a stale one behind.

`DB_PREPARED_STATEMENTS=false` turns them off (e.g. behind a pooler in transaction mode
that does not track protocol-level prepared statements: PgBouncer before 1.21, or with
`max_prepared_statements = 0`); the statements then run as any other, unprepared. SQLite
and psycopg 2 never prepare.

The cursor is Django's own cursor wrapper, so the statement goes through the database's
execute wrappers, the query log and `assertNumQueries` like any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.db.backends.utils import CursorWrapper

try:
    from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]  # stubs lack it
        ServerBindingCursor as _ServerBindingCursor,
    )
    from django.db.backends.postgresql.psycopg_any import is_psycopg3
except ImportError:  # pragma: no cover - no PostgreSQL driver installed
    _ServerBindingCursor = None
    is_psycopg3 = False


if _ServerBindingCursor is not None and is_psycopg3:
    from psycopg import ClientCursor

    class _LoggedQuery:
        """What Django's query log reads of the statement a cursor ran (`_query.query`):
        psycopg leaves none after running a prepared statement. The SQL with its values
        inlined, as the log shows every other statement, built only when read."""

        __slots__ = ("_conn", "_params", "_sql")

        def __init__(self, conn: Any, sql: Any, params: Any) -> None:
            self._conn, self._sql, self._params = conn, sql, params

        @property
        def query(self) -> bytes:
            return ClientCursor(self._conn).mogrify(self._sql, self._params).encode()

    class _PreparingCursor(_ServerBindingCursor):
        """Server-side binding, every statement prepared (once per connection)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            kwargs.setdefault("prepare", True)
            result = super().execute(query, params, **kwargs)
            self._query = _LoggedQuery(self.connection, query, params)
            return result


def prepares(using: str = "default") -> bool:
    """Whether statements sent through prepared_cursor() are prepared on this database."""
    connection = connections[using]
    return (
        connection.vendor == "postgresql"
        and is_psycopg3
        and connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None
    )


@contextlib.contextmanager
def prepared_cursor(using: str = "default") -> Iterator[CursorWrapper]:
    """Django's cursor (wrappers, query log, error translation), whose statements are
    prepared once per connection where the database allows it (see the module's doc).

    Its SQL takes `%s` placeholders as usual; each must be a value PostgreSQL can type
    from the statement (a column compared with it, or a cast), as with any prepared
    statement.
    """
    connection = connections[using]
    with connection.cursor() as wrapper:
        if not prepares(using):
            yield wrapper
            return
        from django.db.backends.postgresql.psycopg_any import register_tzloader
        from psycopg.pq import Format

        raw = connection.connection
        cursor = _PreparingCursor(raw)
        # As Django's create_cursor: the connection's time zone for timestamptz values.
        tzloader = raw.adapters.get_loader(1184, Format.TEXT)  # 1184: timestamptz
        if connection.timezone != tzloader.timezone:
            register_tzloader(connection.timezone, cursor)
        client_cursor, wrapper.cursor = wrapper.cursor, cursor
        try:
            yield wrapper
        finally:
            wrapper.cursor = client_cursor
            cursor.close()
