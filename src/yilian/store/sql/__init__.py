"""The SQL layer both backends share: schema, indexing, search -> SQL, session, repository.

Nothing here imports a database driver; engine differences live in `dialect.Dialect`
subclasses next to each backend's adapter (store/sqlite, store/postgres).
"""

from yilian.store.sql.dialect import Dialect
from yilian.store.sql.repository import SqlRepository
from yilian.store.sql.schema import MIGRATIONS, Migration

__all__ = ["MIGRATIONS", "Dialect", "Migration", "SqlRepository"]
