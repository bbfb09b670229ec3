"""The synthetic alliance, streamed: `Alliance(patients, institutions, seed).histories()`.

Residents come in groups (`synth.people`); group `n` is generated from
`random.Random(f"{seed}:{n}")` alone, so the output is deterministic (same arguments, same
histories, byte for byte), any range of groups can be produced without the ones before it
(`groups(start, stop)`), and nothing accumulates from one group to the next: memory stays flat
however many patients are asked for.  `patients` counts persons; the last group is made
smaller when it would overshoot (the group's draw sees how much room is left), so the count is
exact.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from yilian.synth.care import Care, Cluster
from yilian.synth.directory import MAX_INSTITUTIONS, directory
from yilian.synth.model import Directory, History
from yilian.synth.people import group

__all__ = ["MAX_PATIENTS", "Alliance", "generate"]

MAX_PATIENTS = 1_000_000


@dataclass
class Alliance:
    """An alliance of `institutions` members and `patients` residents."""

    patients: int
    institutions: int
    seed: int = 2026
    directory: Directory = field(init=False)
    care: Care = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.patients <= MAX_PATIENTS:
            raise ValueError(f"patients must be 1..{MAX_PATIENTS:,}, got {self.patients}")
        if not 1 <= self.institutions <= MAX_INSTITUTIONS:
            raise ValueError(f"institutions must be 1..{MAX_INSTITUTIONS}, got {self.institutions}")
        self.directory = directory(self.institutions, self.seed)
        self.care = Care(self.directory, self.seed)

    @property
    def cluster(self) -> Cluster:
        """The outbreak week and town this seed chose."""
        return self.care.cluster

    def group(self, n: int, room: int = 4) -> list[History]:
        """The histories of group `n` (at most `room` persons), a household's members in turn."""
        rng = random.Random(f"{self.seed}:{n}")
        return [self.care.history(rng, resident) for resident in group(rng, n, self.directory, room)]

    def groups(self, start: int = 0, stop: int | None = None) -> Iterator[list[History]]:
        """Groups `start` .. `stop - 1` (without `stop`: until `patients` persons are made,
        counting from group 0)."""
        if stop is not None:
            for n in range(start, stop):
                yield self.group(n)
            return
        made, n = 0, start
        while made < self.patients:
            histories = self.group(n, min(4, self.patients - made))
            made += len(histories)
            n += 1
            yield histories

    def histories(self) -> Iterator[History]:
        """Every resident's history, `patients` of them."""
        for histories in self.groups():
            yield from histories


def generate(patients: int, institutions: int, seed: int = 2026) -> tuple[Directory, Iterator[History]]:
    """The directory and a stream of `patients` histories."""
    alliance = Alliance(patients, institutions, seed)
    return alliance.directory, alliance.histories()
