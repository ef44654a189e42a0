"""The shared storage suite on PostgreSQL, and what is particular to it.

The contract of tests/storage_suite.py runs unchanged, each test in a fresh
PostgreSQL schema (dropped afterwards). Needs the server of `postgres_url`
(tests/conftest.py): CI fails without it, a laptop skips with instructions.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from storage_suite import Backend, StorageContract, message, put, read

from engine.errors import ConfigError
from engine.plugins import Registry
from engine.storage import ConflictError, Storage

pytestmark = pytest.mark.postgres


def open_postgres(url: str, schema: str, **settings: object) -> Storage:
    return Registry.collect().storage("postgresql", url=url, schema=schema, **settings)  # type: ignore[no-any-return]


@pytest.fixture
def backend(postgres_url: str, postgres_schema: str) -> Iterator[Backend]:
    yield Backend(open=lambda: open_postgres(postgres_url, postgres_schema), snapshot_reads=True)


class TestPostgresStorage(StorageContract):
    """The whole contract, on PostgreSQL."""
