"""The router's knobs, passed in from the composition root (no module-level singletons).

Defaults follow common server practice: 20 results a page unless the client asks, at most
1000; unknown search parameters ignored (with a warning entry) unless the client sends
`Prefer: handling=strict` (http://hl7.org/fhir/R4/search.html#errors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from yilian.bulk.jobs import JobManager

__all__ = ["RouterSettings"]


@dataclass(frozen=True, slots=True)
class RouterSettings:
    """How the router pages, handles unknown parameters, limits Bundles and validates."""

    default_count: int = 20
    max_count: int = 1000
    default_handling: Literal["strict", "lenient"] = "lenient"
    max_bundle_entries: int = 10000
    validate: bool = True
    partition_cache_seconds: float = 5.0  # how soon an institution removed elsewhere stops answering
    # Bulk Data (issue 4): the composition root's JobManager; None: `$export`/`$import` are off.
    jobs: JobManager | None = None
    import_allowed_dirs: tuple[str, ...] = ()  # $import (issue 4): local folders inputs may name
