"""Hand-written SQL for the OCPP hot path, kept to two shapes: load model rows, update fields.

Compiling an ORM query costs about 0.5-1 ms of CPU, running a prepared one through
``connection.cursor()`` about 0.1 ms; the charger endpoint runs a few per message, so the services
on that path use these helpers (with the ORM as the fallback on other databases).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

M = TypeVar("M", bound=models.Model)


@functools.cache
def columns(model: type[models.Model], alias: str) -> tuple[tuple[str, ...], str]:
    """The concrete fields' attnames and ``alias."col", …`` for a SELECT list (built once)."""
    fields = model._meta.concrete_fields
    return tuple(f.attname for f in fields), ", ".join(f'{alias}."{f.column}"' for f in fields)


def _connection() -> Any:
    """The default database's connection object itself.

    ``connection`` (imported from ``django.db``) is a proxy that looks the connection up in an
    asgiref ``Local`` on every attribute access, a measurable cost on the hot path; the helpers
    below look it up once per call here and use the object."""
    return connections[DEFAULT_DB_ALIAS]


def instance(model: type[M], names: Sequence[str], values: Sequence[Any]) -> M:
    """A model instance from database values (what ``Model.from_db`` does for the ORM).

    ``Model.__init__`` was about 9% of the database thread's CPU: it sends ``pre_init`` and
    ``post_init`` and sets each field through its descriptor. For a model whose ``__init__``,
    ``from_db`` and field descriptors are Django's own and that has no ``pre_init``/``post_init``
    receivers (checked on every call: receivers may be connected at any time), the instance is
    built the way that path ends up: a ``ModelState`` (not adding, this database) and the values
    in ``__dict__``. Fields not in ``names`` are left out, i.e. deferred, as ``from_db`` does.
    Anything else goes through ``from_db``."""
    conn = _connection()
    names = tuple(names)
    loader = _loader(conn, model, names)
    if loader.converters:
        values = list(values)
        for index, field, functions in loader.converters:
            value = values[index]
            for function in functions:
                value = function(value, field, conn)
            values[index] = value
    if (
        loader.plain and len(values) == len(names)
        and not pre_init.has_listeners(model) and not post_init.has_listeners(model)
    ):
        obj = model.__new__(model)
        state = ModelState()
        state.adding = False
        state.db = conn.alias
        attributes = obj.__dict__
        attributes["_state"] = state
        attributes.update(zip(names, values))
        return obj
    return model.from_db(conn.alias, list(names), list(values))


def bare(model: type[M], **fields: Any) -> M:
    """An instance holding just these attributes: no ``Model.__init__`` (which sets every other
    field's default first) and no ``_state``. For reading methods on a few fields (a station's
    status), never for saving."""
    obj = model.__new__(model)
    obj.__dict__.update(fields)
    return obj


class _Loader(NamedTuple):
    converters: list[tuple[int, Any, list[Any]]]  # (index in names, field, converter functions)
    plain: bool  # True when ``instance`` may build the instance without ``Model.__init__``


_LOADERS: dict[tuple[str, type[models.Model], tuple[str, ...]], _Loader] = {}


def _loader(conn: Any, model: type[models.Model], names: tuple[str, ...]) -> _Loader:
    """How ``instance`` turns these columns into an instance of ``model``, worked out once per
    database vendor, model and column list: which columns need converting from the driver's
    value (JSON text, SQLite times…), and whether the shortcut past ``Model.__init__`` gives
    the same instance (see ``_plain_model``; the columns must also be the model's concrete
    fields in their declared order, which is how ``from_db`` reads them)."""
    key = (conn.vendor, model, names)
    found = _LOADERS.get(key)
    if found is None:
        fields = model._meta.concrete_fields
        by_attname = {f.attname: f for f in fields}
        converters = []
        for index, name in enumerate(names):
            field = by_attname[name]
            functions = list(conn.ops.get_db_converters(field)) + list(field.get_db_converters(conn))
            if functions:
                converters.append((index, field, functions))
        in_order = names == tuple(f.attname for f in fields if f.attname in names)
        found = _LOADERS[key] = _Loader(converters, in_order and _plain_model(model))
    return found


def _plain_model(model: type[models.Model]) -> bool:
    """Whether ``Model.__init__`` on database values would do no more than set ``_state`` and put
    each value in the instance's ``__dict__`` (receivers of ``pre_init``/``post_init`` aside,
    which ``instance`` checks on each call): the model keeps Django's ``__init__``,
    ``from_db`` and ``__setattr__``, and every concrete field's descriptor is Django's plain one,
    whose ``__set__`` (a foreign key's id) only stores the value on a new instance."""
    if (
        model._meta.abstract
        or model.__init__ is not models.Model.__init__
        or model.from_db.__func__ is not models.Model.from_db.__func__  # type: ignore[attr-defined]
        or model.__setattr__ is not models.Model.__setattr__
    ):
        return False
    for field in model._meta.concrete_fields:
        # The class attribute as ``setattr`` would find it (``getattr`` on the class would call it).
        descriptor = next(
            (klass.__dict__[field.attname] for klass in model.__mro__ if field.attname in klass.__dict__), None
        )
        if type(descriptor) not in (DeferredAttribute, ForeignKeyDeferredAttribute):
            return False
    return True


def update_fields(obj: models.Model, fields: Iterable[str]) -> None:
    """``obj.save(update_fields=fields)`` as one UPDATE by primary key, without the ORM compiler.

    The statement and its fields are worked out once per model and field list (``_update_plan``):
    only the values are read on each call."""
    names = tuple(fields)
    if not names:
        return
    conn = _connection()
    statement, targets = _update_plan(conn.vendor, type(obj), names)
    params = [field.get_db_prep_save(getattr(obj, field.attname), conn) for field in targets]
    params.append(obj.pk)
    with conn.cursor() as cursor:
        cursor.execute(statement, params)


_UPDATE_PLANS: dict[tuple[str, type[models.Model], tuple[str, ...]], tuple[str, list[Any]]] = {}


def _update_plan(vendor: str, model: type[models.Model], names: tuple[str, ...]) -> tuple[str, list[Any]]:
    """``update_fields``' statement and target fields for this field list (a name given twice is
    set once), cached by vendor, model and the list as given: the callers pass a handful of
    fixed lists, so the cache stays small."""
    key = (vendor, model, names)
    found = _UPDATE_PLANS.get(key)
    if found is None:
        meta = model._meta
        targets = [meta.get_field(name) for name in dict.fromkeys(names)]
        assignments = ", ".join(f'"{field.column}" = %s' for field in targets)
        statement = f'UPDATE "{meta.db_table}" SET {assignments} WHERE "{meta.pk.column}" = %s'
        found = _UPDATE_PLANS[key] = (statement, targets)
    return found


def insert(obj: models.Model, *, on_conflict_nothing: bool = False) -> bool:
    """``obj.save()`` of a new row as one INSERT … RETURNING pk (PostgreSQL), without the ORM
    compiler. With ``on_conflict_nothing`` a row a constraint already holds is skipped: returns
    False and leaves ``obj.pk`` unset."""
    return _insert(obj, on_conflict_nothing=on_conflict_nothing) is not None


def insert_with(obj: models.Model, with_sql: str, with_params: Sequence[Any], taken: dict[str, str]) -> tuple[Any, ...] | None:
    """``insert`` in one statement with a data-modifying ``WITH name AS (…)`` part (``with_sql``,
    ``with_params``) whose row gives some of the fields: ``taken`` = ``{"field": "name.column"}``.
    Returns those fields' values as stored, or None when the WITH part gave no row (then nothing
    was inserted and ``obj.pk`` stays unset)."""
    return _insert(obj, with_sql=with_sql, with_params=with_params, taken=taken)


def _insert(
    obj: models.Model, *, on_conflict_nothing: bool = False, with_sql: str = "", with_params: Sequence[Any] = (),
    taken: dict[str, str] | None = None,
) -> tuple[Any, ...] | None:
    conn = _connection()
    meta = obj._meta
    taken = taken or {}
    model = type(obj)
    unset_keys = tuple(name for name in _key_attnames(model) if getattr(obj, name) is None)
    statement, sources = _insert_plan(conn.vendor, model, unset_keys, on_conflict_nothing, tuple(taken.items()))
    params = list(with_params)
    for field, pre_save in sources:
        value = field.pre_save(obj, add=True) if pre_save else getattr(obj, field.attname)
        params.append(field.get_db_prep_save(value, conn))
    with conn.cursor() as cursor:
        cursor.execute(with_sql + statement, params)
        row = cursor.fetchone()
    if row is None:
        return None
    setattr(obj, meta.pk.attname, row[0])
    obj._state.adding = False
    obj._state.db = conn.alias
    return tuple(row[1:])


_INSERT_PLANS: dict[tuple[Any, ...], tuple[str, list[tuple[Any, bool]]]] = {}


@functools.cache
def _key_attnames(model: type[models.Model]) -> tuple[str, ...]:
    """The attnames of the model's primary-key columns (one, but for a composite key)."""
    return tuple(f.attname for f in model._meta.concrete_fields if f.primary_key)


def _insert_plan(
    vendor: str, model: type[models.Model], unset_keys: tuple[str, ...], on_conflict_nothing: bool,
    taken: tuple[tuple[str, str], ...],
) -> tuple[str, list[tuple[Any, bool]]]:
    """``_insert``'s statement (all but the ``WITH`` part, which the caller puts in front) and the
    fields whose values it takes as parameters, in order, each with whether its ``pre_save``
    must run. Worked out once for each model, primary-key columns left unset (``unset_keys``:
    the database gives them), ``on_conflict_nothing`` and the ``taken`` fields and sources.

    ``pre_save(obj, add=True)`` sets an auto_now/auto_now_add field's value, among other things a
    field class may do; the base ``Field.pre_save`` only reads the attribute, which ``_insert``
    then does itself."""
    key = (vendor, model, unset_keys, on_conflict_nothing, taken)
    found = _INSERT_PLANS.get(key)
    if found is None:
        meta = model._meta
        given = dict(taken)
        targets = [f for f in meta.concrete_fields if f.attname not in unset_keys]
        names = ", ".join(f'"{f.column}"' for f in targets)
        values = []
        sources = []
        for f in targets:
            if f.name in given:
                values.append(given[f.name])
            else:
                values.append("%s")
                sources.append((f, getattr(f.pre_save, "__func__", None) is not models.Field.pre_save))
        conflict = " ON CONFLICT DO NOTHING" if on_conflict_nothing else ""
        returning = ", ".join([f'"{meta.pk.column}"'] + [f'"{meta.get_field(name).column}"' for name in given])
        if given:
            source = next(iter(given.values())).split(".")[0]
            rows = f'SELECT {", ".join(values)} FROM {source}'
        else:
            rows = f'VALUES ({", ".join(values)})'
        # The leading space: with no WITH part the text is the same as before the cache.
        statement = f' INSERT INTO "{meta.db_table}" ({names}) {rows}{conflict} RETURNING {returning}'
        found = _INSERT_PLANS[key] = (statement, sources)
    return found


def update_many(model: type[models.Model], changes: Sequence[tuple[models.Model, Sequence[str]]]) -> None:
    """Several ``update_fields`` in one UPDATE … FROM (the rows as one JSON parameter, see
    ``insert_rows``): every row gets the union of the changed fields, from its instance (the
    caller holds the rows locked and loaded)."""
    if not changes:
        return
    if len(changes) == 1:
        update_fields(*changes[0])
        return
    meta = model._meta
    names = list(dict.fromkeys(name for _obj, fields in changes for name in fields))
    targets = [meta.get_field(name) for name in names]
    pk = meta.pk
    types = [pk.cast_db_type(connection)] + [field.cast_db_type(connection) for field in targets]
    rows = [
        [obj.pk] + [
            # A JSON field's value goes into the document as it is (``get_db_prep_save`` would wrap it).
            getattr(obj, field.attname) if type_ == "jsonb" else field.get_db_prep_save(getattr(obj, field.attname), connection)
            for field, type_ in zip(targets, types[1:])
        ]
        for obj, _fields in changes
    ]
    columns = ", ".join(["id__"] + [f"c{i}" for i in range(len(targets))])
    assignments = ", ".join(f'"{field.column}" = v.c{i}' for i, field in enumerate(targets))
    with server_cursor() as cursor:
        cursor.execute(
            f'UPDATE "{meta.db_table}" SET {assignments} FROM ({json_rows_select(tuple(types), len(rows))}) AS v({columns}) '
            f'WHERE "{meta.db_table}"."{pk.column}" = v.id__',
            [json_rows(rows)],
        )


def insert_rows(
    table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]],
    *, on_conflict_nothing: bool = False, returning: str = "",
) -> list[tuple[Any, ...]]:
    """Many rows in one INSERT … SELECT (PostgreSQL). ``types``: each column's PostgreSQL type
    (a ``jsonb`` column's values are Python objects, put into the document as they are);
    ``returning``: a RETURNING list, whose rows (the inserted ones) are returned.

    The rows travel as one JSON document (``json.dumps``, in C), taken apart by the server:
    psycopg's binary arrays, one per column, were built element by element in Python, about
    0.5 ms of CPU for a statement of five rows and 4 µs a row beyond (a fifth of the server's
    CPU in a fleet of 5,000 chargers); the document costs 0.2 ms and under 3 µs a row.
    """
    if not rows:
        return []
    conflict = " ON CONFLICT DO NOTHING" if on_conflict_nothing else ""
    tail = f" RETURNING {returning}" if returning else ""
    with server_cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ({", ".join(columns)}) {json_rows_select(tuple(types))}{conflict}{tail}',
            [json_rows(rows)],
        )
        return cursor.fetchall() if returning else []


@functools.cache
def json_rows_select(types: tuple[str, ...], count: int | None = None) -> str:
    """``SELECT … FROM`` one ``%s`` parameter holding ``json_rows(rows)``: element i of each row
    cast to ``types[i]``. JSON ``null`` is SQL NULL (``->>`` gives NULL for it; a ``jsonb``
    column needs the NULLIF).

    ``count``: how many rows the parameter holds. The planner cannot see into the document and
    guesses 100 rows; for the two or three rows of a batch in a fleet's steady traffic it then
    joined a whole table by hash instead of looking up each row by index (a StatusNotification's
    statement: 2 ms, a sequential scan of 5,000 connectors, instead of 0.3 ms). A ``LIMIT`` of
    the next power of two tells it (never cutting a row off), with a handful of statement texts
    per caller for the prepared-statement cache."""
    columns = ", ".join(
        f"NULLIF(r->{i}, 'null'::jsonb)" if type_ == "jsonb" else f"(r->>{i})::{type_}"
        for i, type_ in enumerate(types)
    )
    limit = f" LIMIT {1 << max(0, count - 1).bit_length()}" if count is not None and count < 100 else ""
    return f"SELECT {columns} FROM jsonb_array_elements(%s::jsonb) AS r{limit}"


def any_of(type_: str) -> str:
    """``ANY(…)`` of one ``%s`` parameter holding ``json_list(values)``, as ``type_`` values
    (``x = {any_of('bigint')}``).

    psycopg adapts a Python list parameter, and reads an array column, with adapters that refer
    back to the statement's transformer: each such statement leaves a reference cycle of 20-45
    objects that only the cyclic garbage collector frees (in a boot storm of 5,000 chargers,
    passes of 10-80 ms, ten a second, 1.8 s of a 9 s storm). A JSON text parameter leaves none;
    array results are read back as text (``array_to_string``) for the same reason.
    """
    return f"ANY(ARRAY(SELECT jsonb_array_elements_text(%s::jsonb))::{type_}[])"


def json_list(values: Iterable[Any]) -> str:
    """The parameter of ``any_of``."""
    return json_rows(list(values))  # type: ignore[arg-type]


def json_rows(rows: Sequence[Sequence[Any]]) -> str:
    """The rows as a JSON array of arrays. Times keep their microseconds and offset, decimals
    their digits (as strings the casts read exactly); floats are written in their shortest
    exact form. JSON has no NaN or infinity: those are written as strings, which a ``float8``
    column reads as the same value (a JSON payload keeps the string)."""
    try:
        return json.dumps(rows, default=_json_value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(rows), default=_json_value, separators=(",", ":"), ensure_ascii=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value")


def server_cursor() -> Any:
    """``connection.cursor()``, binding parameters on the server (PostgreSQL), for the bulk
    statements' one large parameter.

    Django's cursor composes the statement on the client (unless ``DATABASE_PREPARED_STATEMENTS``),
    escaping a parameter in Python. The cursor is Django's wrapper around psycopg's
    server-binding cursor, on the same connection and transaction (so query logging and the
    test tools still see the statements).
    """
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))


def insert_many(objs: Sequence[models.Model], *, on_conflict_nothing: bool = False, returning: str = "") -> list[tuple[Any, ...]]:
    """New rows of one model in one INSERT (``insert_rows``), every concrete field but an unset
    primary key. Returns the ``returning`` rows; the instances are not given their keys (the
    caller matches the rows to them by what it knows is unique among them)."""
    if not objs:
        return []
    meta = objs[0]._meta
    targets = [f for f in meta.concrete_fields if not (f.primary_key and getattr(objs[0], f.attname) is None)]
    types = [f.cast_db_type(connection) for f in targets]
    rows = [
        # A JSON field's value goes into the document as it is (``get_db_prep_save`` would wrap it).
        [getattr(obj, f.attname) if type_ == "jsonb" else f.get_db_prep_save(f.pre_save(obj, add=True), connection)
         for f, type_ in zip(targets, types)]
        for obj in objs
    ]
    return insert_rows(meta.db_table, [f'"{f.column}"' for f in targets], types, rows,
                       on_conflict_nothing=on_conflict_nothing, returning=returning)
