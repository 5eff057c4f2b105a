"""PostgreSQL's cheaper ways to write consultations (bot/records.py writes them on any database).

Under load most group commits hold one consultation (2 workers, 50 clients: 1.4 a commit), and on
PostgreSQL the generic way to store one took four round trips (BEGIN, INSERT … RETURNING, the hits,
COMMIT). Here a lone consultation and its hits are one statement, on a connection in autocommit (a
statement is its own transaction), and a group's hits are one COPY. A lone consultation, per commit:
client 0.55 → 0.44 ms, server 0.45 → 0.30 ms of CPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from bot.models import Consultation, ConsultationHit

Values = dict[str, Any]

CONSULTATIONS: Table = Consultation.__table__  # type: ignore[assignment]
HITS: Table = ConsultationHit.__table__  # type: ignore[assignment]
# A hit's columns but its consultation's id, with the SQL type of their arrays (retrievers: JSON text).
HIT_TYPES = {"rank": Integer, "article_key": Text, "law": Text, "number": Integer, "chunk_id": Text,
             "score": Float, "dense_score": Float, "bm25_score": Float, "retrievers": Text}  # fmt: skip
_COPY_HITS = f"COPY {HITS.name} (consultation_id, {', '.join(HIT_TYPES)}) FROM STDIN"
_COPIED = tuple(name for name in HIT_TYPES if name != "retrievers")  # as they are; retrievers as JSON


def is_postgresql(db: Connection | Engine) -> bool:
    return db.dialect.name == "postgresql"


def complete(hits: Sequence[Values]) -> bool:
    """Whether every hit has all its columns (hits read back from the spool may lack some): only those
    can be written here."""
    return all(hit.keys() >= HIT_TYPES.keys() for hit in hits)


def insert_alone(db: Connection, values: Values, hits: Sequence[Values]) -> int:
    """INSERT one consultation and its (complete) hits in one statement; its new id. On a connection in
    autocommit the statement is its own transaction."""
    params = {**values, **{f"hit_{name}": [hit[name] for hit in hits] for name in HIT_TYPES}}
    params["hit_retrievers"] = [json.dumps(hit["retrievers"]) for hit in hits]
    return int(db.execute(_insert_alone(tuple(values)), params).scalar_one())


def copy_hits(db: Connection, hits: Sequence[Values]) -> None:
    """COPY the (complete) hits, consultation ids included, in the connection's transaction. The driver's
    errors are raised as SQLAlchemy's, as any statement's: the record's callers spool on those."""
    dbapi = db.dialect.loaded_dbapi
    try:
        with db.connection.driver_connection.cursor() as cursor, cursor.copy(_COPY_HITS) as copy:
            for hit in hits:
                copy.write_row((hit["consultation_id"], *(hit[name] for name in _COPIED),
                                json.dumps(hit["retrievers"])))  # fmt: skip
    except dbapi.Error as exc:
        raise DBAPIError.instance(_COPY_HITS, None, exc, dbapi.Error, dialect=db.dialect) from exc


@lru_cache(maxsize=16)
def _insert_alone(columns: tuple[str, ...]) -> Select[tuple[int]]:
    """WITH c AS (INSERT the consultation RETURNING id), h AS (INSERT its hits FROM unnest(one array per
    column)) SELECT id FROM c. Built once per set of columns given."""
    consultation = (insert(CONSULTATIONS)
                    .values({name: bindparam(name, type_=CONSULTATIONS.c[name].type) for name in columns})
                    .returning(CONSULTATIONS.c.id).cte("c"))  # fmt: skip
    arrays = func.unnest(*(bindparam(f"hit_{name}", type_=ARRAY(kind)) for name, kind in HIT_TYPES.items()))
    hit = arrays.table_valued(*HIT_TYPES).render_derived(name="h")
    rows = select(consultation.c.id, *(hit.c[name] for name in _COPIED),
                  cast(hit.c.retrievers, JSON)).select_from(consultation).join(hit, true())  # fmt: skip
    hits = insert(HITS).from_select(["consultation_id", *HIT_TYPES], rows).cte("h")
    return select(consultation.c.id).add_cte(hits)
