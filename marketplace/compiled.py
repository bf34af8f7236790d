"""Querysets on the money path, compiled to SQL once per process and run with new values.

Building a queryset and compiling it costs the ORM far more CPU than the database spends
answering it: 0.3 ms for a lookup by key, 1.1 ms for the asker's read with its two EXISTS
(measured in-process), against about 0.1 ms to send the same SQL. A paid post or an accept
runs a dozen such reads and locks; under load the web workers are CPU bound, so this is
requests per second.

`CompiledQuery(build)` takes a function of the query's values that returns the queryset.
The first run (per thread and database) calls it with stand-in values, compiles it, and
keeps the SQL, where each value goes among its parameters, and what the ORM needs to turn
rows into instances (the selected columns, the select_related instances, the converters).
Each run then sends that SQL with the new values and builds the rows or instances as the
ORM does (`Model.from_db`, the fields' database converters, select_related's populators).
Building it twice with different stand-ins must give the same SQL with the values in the
same places, or it refuses: a query whose shape depends on its values (an IN list, a None
that becomes IS NULL) cannot be kept.

The values are ids (integers) or keys (strings): what these queries look up by. A stand-in
is an integer; a string column's lookup takes it as its text.
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import (  # type: ignore[attr-defined]  # not in the stubs
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.transaction import TransactionManagementError

from .prepared import prepared_cursor

# Stand-ins: two sets of values no id takes (negative, within a 32-bit column's range, which
# the ORM checks), so each can be found among the parameters.
_STAND_INS = (
    tuple(-(2**30) - 7919 * i for i in range(1, 9)),
    tuple(-(2**30) - 104729 * i for i in range(1, 9)),
)


@dataclass(frozen=True)
class _Plan:
    sql: str
    params: tuple[Any, ...]  # as compiled; the values' places are overwritten per run
    places: tuple[tuple[int, bool], ...]  # where the i-th value goes, and whether as text
    columns: int  # the selected columns (the ORM may add more, e.g. for ordering)
    locks: bool  # SELECT ... FOR UPDATE: only inside a transaction, as the ORM insists
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]  # (column, converters, expr)
    # Model instances (model None: values_list() tuples):
    model: type[Model] | None = None
    fields_start: int = 0
    fields_end: int = 0
    init_list: tuple[str, ...] = ()
    populators: tuple[Any, ...] = ()
    annotations: tuple[tuple[str, int], ...] = ()


class CompiledQuery:
    """A queryset built and compiled once (per thread and database), run with new values."""

    def __init__(self, build: Callable[..., QuerySet[Any, Any]]) -> None:
        self._build = build
        self._arity = len(inspect.signature(build).parameters)
        self._local = threading.local()

    def rows(self, *values: int | str, using: str = "default") -> list[Any]:
        """The instances (or, for values_list(), the tuples) the queryset would give."""
        if len(values) != self._arity:
            raise TypeError(f"expected {self._arity} values, got {len(values)}")
        connection = connections[using]
        plan = self._plan(using)
        if plan.locks and connection.get_autocommit():
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(plan.params)
        for (place, as_text), value in zip(plan.places, values, strict=True):
            params[place] = str(value) if as_text else int(value)
        with prepared_cursor(using) as cursor:
            cursor.execute(plan.sql, params)
            rows = [row[: plan.columns] for row in cursor.fetchall()]
        if plan.converters:
            rows = [_convert(row, plan.converters, connection) for row in rows]
        if plan.model is None:
            return [tuple(row) for row in rows]
        out = []
        for row in rows:
            obj = plan.model.from_db(
                using, list(plan.init_list), row[plan.fields_start : plan.fields_end]
            )
            for populator in plan.populators:
                populator.populate(row, obj)
            for name, position in plan.annotations:
                setattr(obj, name, row[position])
            out.append(obj)
        return out

    def first(self, *values: int | str, using: str = "default") -> Any:
        """The first instance (or tuple), or None."""
        found = self.rows(*values, using=using)
        return found[0] if found else None

    def _plan(self, using: str) -> _Plan:
        connection = connections[using]
        key = (using, id(connection))
        plans: dict[tuple[str, int], _Plan] = self._local.__dict__.setdefault("plans", {})
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = self._compile(using)
        return plan

    def _compile(self, using: str) -> _Plan:
        compiled: list[tuple[Any, Any, str, tuple[Any, ...], tuple[tuple[int, bool], ...]]] = []
        for stand_ins in _STAND_INS:
            queryset = self._build(*stand_ins[: self._arity]).using(using)
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            found_at = []
            for value in stand_ins[: self._arity]:
                found = [(i, p != value) for i, p in enumerate(params) if p in (value, str(value))]
                if len(found) != 1:
                    raise ValueError(f"a value must be one parameter of the query: {sql}")
                found_at.append(found[0])
            compiled.append((queryset, compiler, sql, tuple(params), tuple(found_at)))
        (queryset, compiler, sql, params, places), second = compiled
        if second[2] != sql or second[4] != places:
            raise ValueError(f"the query's SQL depends on its values: {sql}")
        columns = [s[0] for s in compiler.select[: compiler.col_count]]
        converters = tuple(
            (position, tuple(convs), expression)
            for position, (convs, expression) in compiler.get_converters(columns).items()
        )
        locks = bool(
            queryset.query.select_for_update and connections[using].features.has_select_for_update
        )
        plan = _Plan(
            sql=sql,
            params=params,
            places=places,
            columns=compiler.col_count,
            locks=locks,
            converters=converters,
        )
        iterable = queryset._iterable_class
        if iterable is ValuesListIterable:
            return plan
        if iterable is ModelIterable:
            info = compiler.klass_info
            start, end = info["select_fields"][0], info["select_fields"][-1] + 1
            return dataclasses.replace(
                plan,
                model=info["model"],
                fields_start=start,
                fields_end=end,
                init_list=tuple(f[0].target.attname for f in compiler.select[start:end]),
                populators=tuple(get_related_populators(info, compiler.select, using)),
                annotations=tuple((compiler.annotation_col_map or {}).items()),
            )
        raise ValueError(f"only model instances or values_list() tuples: {iterable.__name__}")


def _convert(
    row: tuple[Any, ...], converters: tuple[tuple[int, tuple[Any, ...], Any], ...], connection: Any
) -> list[Any]:
    values = list(row)
    for position, convs, expression in converters:
        value = values[position]
        for convert in convs:
            value = convert(value, expression, connection)
        values[position] = value
    return values
