"""The PostgreSQL backend (psycopg 3 with an async connection pool)."""

from yilian.store.postgres.dialect import PostgresDialect
from yilian.store.postgres.repository import PostgresRepository

__all__ = ["PostgresDialect", "PostgresRepository"]
