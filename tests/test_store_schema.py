"""The Alembic migrations build exactly the schema the store's code uses, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from nestor_controller.store import Store, metadata


def test_migrated_schema_matches_the_code(store_url: str) -> None:
    store = Store(store_url)
    try:
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        store.close()


def test_migrating_twice_is_a_no_op(store_url: str) -> None:
    Store(store_url).close()
    Store(store_url).close()
