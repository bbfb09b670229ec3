"""What an import did: counts per resource type, the problems, and the OperationOutcome file.

The counts distinguish the three PUT outcomes (created, updated, unchanged), so a re-run of
a file already imported reads "0 created, 0 updated, N unchanged".  Problems are written as
NDJSON, one OperationOutcome per bad line, the error file of a Bulk Data import
(https://hl7.org/fhir/uv/bulkdata/); the report keeps only the first few in memory for the
summary, so a file full of bad lines never fills memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson

from yilian.ingest.records import Problem

__all__ = ["LoadReport", "ProblemFile", "TypeCounts"]

KEEP_PROBLEMS = 20
"""Problems the report holds for its summary (all of them go to the error file)."""


@dataclass(slots=True)
class TypeCounts:
    """Resources of one type: new, given a new version, already stored as they are, refused."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0

    @property
    def loaded(self) -> int:
        """Resources of this type the store now holds as the input says."""
        return self.created + self.updated + self.unchanged


@dataclass(slots=True)
class LoadReport:
    """Running totals of one import (mutable: the loader adds to it batch by batch)."""

    types: dict[str, TypeCounts] = field(default_factory=dict)
    problems: int = 0
    first_problems: list[Problem] = field(default_factory=list)
    records: int = 0  # resources read (good and bad)
    bytes_done: int = 0  # of the input files, as stored (compressed or not)
    bytes_total: int | None = None
    cancelled: bool = False

    def counts(self, resource_type: str) -> TypeCounts:
        found = self.types.get(resource_type)
        if found is None:
            found = self.types[resource_type] = TypeCounts()
        return found

    def problem(self, problem: Problem) -> None:
        self.problems += 1
        if len(self.first_problems) < KEEP_PROBLEMS:
            self.first_problems.append(problem)

    @property
    def created(self) -> int:
        return sum(c.created for c in self.types.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.types.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.types.values())

    @property
    def loaded(self) -> int:
        return sum(c.loaded for c in self.types.values())

    @property
    def untyped_refused(self) -> int:
        """Lines refused before they were read as a resource of a known type (not JSON,
        truncated, too long, not the file's type): the problems no per-type count holds."""
        return max(self.problems - sum(c.refused for c in self.types.values()), 0)

    def summary(self) -> str:
        """One line: loaded (created / updated / unchanged) and refused, every line refused
        counted once (the per-type counts plus `untyped_refused`)."""
        return (
            f"{self.loaded} resources loaded ({self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged), {self.problems} refused"
        )


class ProblemFile:
    """The NDJSON file of OperationOutcomes, one per problem, created on the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: IO[bytes] | None = None

    def write(self, problem: Problem) -> None:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("wb")
        self._out.write(orjson.dumps(problem.outcome()) + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
