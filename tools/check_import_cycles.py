"""Fail when modules of yilian import each other, directly or through a chain.

A cycle makes the outcome depend on which module Python happens to import first: the one
started first sees the other half-initialised, so a name it needs may not exist yet, and an
innocent reordering of imports (or a new entry point) turns into an ImportError.  It also
welds the modules into one unit: neither can be understood, tested or moved to another layer
without the other.  The import-linter contracts (`make importlint`) police the layers between
packages; this check covers what they do not, the modules inside a package.

What counts is what runs: imports at module level and imports inside functions (a deferred
import is the same cycle, only discovered later).  Imports under `if TYPE_CHECKING:` do not,
since they never execute.  Neither does the import of a parent package that Python performs
before any of its submodules: a package's `__init__` re-exporting its children is the usual
arrangement, not a cycle.

For every import that closes a cycle the shortest cycle through it is printed, each step with
the line that imports, so every import that would have to go is shown.

    python tools/check_import_cycles.py [package]    # default: yilian; exit 1 if any cycle
"""

from __future__ import annotations

import sys
from itertools import pairwise

import grimp


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The shortest cycle through each import that has a way back, each listed once."""
    found: dict[tuple[str, ...], list[str]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is None:
                continue
            loop = [importer, *back[:-1]]
            start = loop.index(min(loop))  # one rotation, so a cycle is reported once
            key = tuple(loop[start:] + loop[:start])
            found.setdefault(key, [*key, key[0]])
    return list(found.values())


def step(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    lines = "; ".join(f"line {d['line_number']}: {d['line_contents']}" for d in details)
    return f"    {importer} -> {imported}  ({lines})"


def main(package: str) -> int:
    graph = grimp.build_graph(package, exclude_type_checking_imports=True, cache_dir=None)
    found = cycles(graph)
    if not found:
        print(f"no import cycles among {len(graph.modules)} modules")
        return 0
    for n, chain in enumerate(found, 1):
        print(f"cycle {n}: {' -> '.join(chain)}")
        for importer, imported in pairwise(chain):
            print(step(graph, importer, imported))
    print(f"{len(found)} import cycle(s) among {len(graph.modules)} modules")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "yilian"))
