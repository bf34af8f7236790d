"""Several row writes of one change sent as one statement: a status transition's UPDATE of
the locked row, the INSERT of its event row, the poll version it moves.

Through the ORM each is a statement of its own, and building it costs more CPU than
PostgreSQL spends running it (about 0.3-0.5 ms for a `save(update_fields=...)` or a
`create()`, measured in-process on the accept path). Here the SQL is built from the
models' metadata, once per process for each sequence of shapes (model, fields), and on
PostgreSQL the writes go together as one data-modifying WITH, prepared once per connection
(`marketplace.prepared`). Every part of a WITH that writes runs to its end, whether its
rows are read or not; all parts see the same snapshot, so two parts must not write the
same row (none here does: each writes its own table's row).

Elsewhere (SQLite in the embedded mode) each write goes through the ORM, one by one.
The tables' pks are integers.

What the ORM would do and these do too: the fields' `pre_save` (e.g. `auto_now_add`) and
database preparation, the `pre_save`/`post_save` signals for models that have receivers
(e.g. the open question list's generation), an inserted row's pk set on its instance.
An UPDATE by pk that finds no row is an error (the callers hold the row's lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import DatabaseError, connections, router
from django.db.models import F, Field, Model
from django.db.models.signals import post_save, pre_save

from .prepared import prepared_cursor


@dataclass(frozen=True)
class _Shape:
    """The SQL of one kind of write (its values are parameters), kept per process."""

    model: type[Model]
    fields: tuple[Field[Any, Any], ...]  # the values written, in the placeholders' order
    add_one: tuple[Field[Any, Any], ...]  # integer columns moved by one in the database
    insert: bool

    def sql(self, vendor_quote: Any) -> str:
        meta = self.model._meta
        assert meta.pk is not None
        qn = vendor_quote
        table, pk = qn(meta.db_table), qn(meta.pk.column)
        # Identifiers come from the model's metadata (quoted); values are parameters.
        if self.insert:
            columns = ", ".join(qn(f.column) for f in self.fields)
            values = ", ".join(["%s"] * len(self.fields))
            return f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING {pk}"  # noqa: S608
        sets = [f"{qn(f.column)} = %s" for f in self.fields]
        sets += [f"{qn(f.column)} = {qn(f.column)} + 1" for f in self.add_one]
        return f"UPDATE {table} SET {', '.join(sets)} WHERE {pk} = %s RETURNING {pk}"  # noqa: S608


@cache
def _insert_shape(model: type[Model]) -> _Shape:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    return _Shape(model, fields, (), insert=True)


@cache
def _update_shape(model: type[Model], names: tuple[str, ...], add_one: tuple[str, ...]) -> _Shape:
    meta = model._meta

    def field(name: str) -> Field[Any, Any]:
        found = meta.get_field(name)
        if not isinstance(found, Field) or not found.concrete or found.primary_key:
            raise ValueError(f"{name} is not a column of {meta.label} that can be updated")
        return found

    if not names and not add_one:
        raise ValueError("an update writes at least one field")
    if set(names) & set(add_one):
        raise ValueError("a field is either set or moved by one, not both")
    return _Shape(model, tuple(map(field, names)), tuple(map(field, add_one)), insert=False)


@dataclass
class Write:
    """One INSERT of an instance, or one UPDATE of some of its fields by its pk."""

    instance: Model
    shape: _Shape
    signals: bool = True  # False: as QuerySet.update(), which sends none

    @property
    def update_fields(self) -> frozenset[str] | None:
        if self.shape.insert:
            return None
        return frozenset(f.name for f in (*self.shape.fields, *self.shape.add_one))

    def params(self, connection: Any) -> list[Any]:
        obj, add = self.instance, self.shape.insert
        values = [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in self.shape.fields]
        if not add:
            values.append(obj.pk)
        return values


def insert(obj: Model) -> Write:
    """INSERT `obj` (a new instance); its pk is set once written."""
    if obj.pk is not None:
        raise ValueError("insert() takes a new instance, without a pk")
    return Write(obj, _insert_shape(type(obj)))


def update(obj: Model, fields: Iterable[str], *, add_one: Iterable[str] = ()) -> Write:
    """UPDATE `fields` of `obj` (by its pk) to the instance's values, and move each of
    `add_one` (integer columns) up by one in the database: the instance's value is then
    the one it held plus one (the caller holds the row's lock, so no one else moved it)."""
    if obj.pk is None:
        raise ValueError("update() takes a saved instance")
    return Write(obj, _update_shape(type(obj), tuple(fields), tuple(add_one)))


def add_one(model: type[Model], pk: int, field: str) -> Write:
    """UPDATE one integer column of the row `pk` to itself plus one (e.g. a poll version),
    with no instance at hand: as `QuerySet.update(field=F(field) + 1)`, no signals."""
    return Write(model(pk=pk), _update_shape(model, (), (field,)), signals=False)


def write_together(*writes: Write) -> None:
    """Run the writes, in this order, as one statement where the database allows it (one
    database: the first write's). Inside the caller's transaction; atomic by itself."""
    if not writes:
        return
    using = router.db_for_write(type(writes[0].instance))
    connection = connections[using]
    if connection.vendor != "postgresql":
        for w in writes:
            _one_by_one(w, using)
        return
    for w in writes:
        _signal(pre_save, w, using)
    _together(writes, connection, using)
    for w in writes:
        _signal(post_save, w, using)


# The WITH statement of each sequence of shapes, built once per process (PostgreSQL's).
_STATEMENTS: dict[tuple[_Shape, ...], str] = {}


def _statement(shapes: tuple[_Shape, ...], qn: Any) -> str:
    sql = _STATEMENTS.get(shapes)
    if sql is None:
        parts = [f"w{i} AS ({shape.sql(qn)})" for i, shape in enumerate(shapes)]
        # Which write gave which rows: the pks, as bigint whatever each table's pk type.
        returned = " UNION ALL ".join(
            f"SELECT {i}, {qn(_pk_column(shape))}::bigint FROM w{i}"  # noqa: S608
            for i, shape in enumerate(shapes)
        )
        sql = _STATEMENTS[shapes] = f"WITH {', '.join(parts)} {returned}"
    return sql


def _together(writes: Sequence[Write], connection: Any, using: str) -> None:
    sql = _statement(tuple(w.shape for w in writes), connection.ops.quote_name)
    params = [value for w in writes for value in w.params(connection)]
    with prepared_cursor(using) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found: dict[int, list[int]] = {}
    for index, pk in rows:
        found.setdefault(index, []).append(pk)
    for i, w in enumerate(writes):
        pks = found.get(i, [])
        if len(pks) != 1:
            raise DatabaseError(
                f"{w.shape.model._meta.label} {'insert' if w.shape.insert else 'update'} "
                f"wrote {len(pks)} rows, not one (pk {w.instance.pk})"
            )
        _written(w, pks[0], using)


def _one_by_one(w: Write, using: str) -> None:
    """Through the ORM, which sends the signals itself."""
    obj, shape = w.instance, w.shape
    if shape.insert:
        obj.save(force_insert=True, using=using)
        return
    if not w.signals:
        moved = {f.attname: F(f.attname) + 1 for f in shape.add_one}
        if shape.model._base_manager.using(using).filter(pk=obj.pk).update(**moved) != 1:
            raise DatabaseError(f"{shape.model._meta.label} {obj.pk} is gone")
        return
    read = {f.attname: getattr(obj, f.attname) for f in shape.add_one}
    for f in shape.add_one:
        setattr(obj, f.attname, F(f.attname) + 1)
    try:
        # Raises DatabaseError when the row is gone, as _together does.
        obj.save(update_fields=sorted(w.update_fields or ()), using=using)
    finally:
        for attname, value in read.items():
            setattr(obj, attname, value)
    _written(w, obj.pk, using)


def _written(w: Write, pk: Any, using: str) -> None:
    obj = w.instance
    if w.shape.insert:
        obj.pk = pk
    obj._state.adding = False
    obj._state.db = using
    for f in w.shape.add_one:
        setattr(obj, f.attname, getattr(obj, f.attname) + 1)


def _pk_column(shape: _Shape) -> str:
    pk = shape.model._meta.pk
    assert pk is not None
    return str(pk.column)


def _signal(signal: Any, w: Write, using: str) -> None:
    model = w.shape.model
    if not w.signals or not signal.has_listeners(model):
        return
    kwargs: dict[str, Any] = {"instance": w.instance, "raw": False, "using": using}
    kwargs["update_fields"] = w.update_fields
    if signal is post_save:
        kwargs["created"] = w.shape.insert
    signal.send(sender=model, **kwargs)
