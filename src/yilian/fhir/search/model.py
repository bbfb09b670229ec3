"""Value objects of FHIR search, shared by the parser, the extractor and the SQL layer.

Two families live here:

* *Index values* (`...Value`) are what `extract.index_values` pulls out of a resource at write
  time, one per searchable element occurrence.  The store writes them as search-index rows.
* *Query values* (`...Query`) and criteria are what `parse.parse_search` makes of a query
  string.  The store turns them into SQL.

Conventions both sides rely on:

* Instants are normalised to UTC text `YYYY-MM-DDTHH:MM:SS.ffffff` (fixed width, so text
  comparison is time comparison).  A date, partial date or dateTime becomes the inclusive range
  `[low, high]` it covers (`2020-03` covers `2020-03-01T00:00:00.000000` to
  `2020-03-31T23:59:59.999999`).  Values without a zone are read as UTC.  Open ends use
  `DATE_MIN` / `DATE_MAX`.
* Strings are compared in the normalised form `normalize_string` gives (case-folded, accents
  stripped, whitespace collapsed); `:exact` compares the original text.
* Numbers and quantities carry the inclusive range implied by their precision: `100` means
  `[99.5, 100.5]`, `1e2` means `[50, 150]` (http://hl7.org/fhir/R4/search.html#number).

Every value carries the code of the parameter it belongs to (`param`).  For composite
parameters each component value carries the component parameter's code.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DATE_MAX",
    "DATE_MIN",
    "ChainCriterion",
    "CompositeQuery",
    "CompositeValue",
    "Condition",
    "Criterion",
    "DateQuery",
    "DateValue",
    "HasCriterion",
    "Include",
    "IndexValue",
    "MissingQuery",
    "NumberQuery",
    "NumberValue",
    "Prefix",
    "QuantityQuery",
    "QuantityValue",
    "QueryValue",
    "ReferenceQuery",
    "ReferenceValue",
    "SearchRequest",
    "SortKey",
    "StringQuery",
    "StringValue",
    "TokenQuery",
    "TokenValue",
    "UriQuery",
    "UriValue",
    "normalize_string",
]

DATE_MIN = "0001-01-01T00:00:00.000000"
DATE_MAX = "9999-12-31T23:59:59.999999"

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


def normalize_string(text: str) -> str:
    """The form string search compares: case-folded, accents removed, spaces collapsed.

    Chinese characters pass through unchanged (they have no case and no accents)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


# --------------------------------------------------------------------------- index values


@dataclass(frozen=True, slots=True)
class StringValue:
    param: str
    value: str  # original text, for :exact
    normalized: str  # normalize_string(value), for default and :contains


@dataclass(frozen=True, slots=True)
class TokenValue:
    """A coded value.  `system` None means the element had no system.  `code` None means a
    text-only entry (CodeableConcept.text), searchable by `:text` only.  `display` is the
    normalised display/text used by `:text`.

    Identifiers that carry `type` also yield a value under the parameter `<param>:of-type`
    whose system/code are the type coding's and whose code is `<type code>|<identifier value>`.
    """

    param: str
    system: str | None
    code: str | None
    display: str | None = None


@dataclass(frozen=True, slots=True)
class DateValue:
    param: str
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class NumberValue:
    param: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantityValue:
    param: str
    low: float
    high: float
    system: str | None
    code: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """A reference.  Relative literal references fill `target_type`/`target_id`; absolute and
    canonical ones fill `url` (canonical version, after `|`, in `version`); logical ones
    (Reference.identifier) fill `identifier_system`/`identifier_value`."""

    param: str
    target_type: str | None = None
    target_id: str | None = None
    url: str | None = None
    version: str | None = None
    identifier_system: str | None = None
    identifier_value: str | None = None


@dataclass(frozen=True, slots=True)
class UriValue:
    param: str
    value: str


@dataclass(frozen=True, slots=True)
class CompositeValue:
    """One combination of component values taken from the same element."""

    param: str
    components: tuple[IndexValue, ...]


IndexValue = (
    StringValue
    | TokenValue
    | DateValue
    | NumberValue
    | QuantityValue
    | ReferenceValue
    | UriValue
    | CompositeValue
)


# --------------------------------------------------------------------------- query values


@dataclass(frozen=True, slots=True)
class StringQuery:
    value: str  # as written by the client (unescaped)


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """`system` None: any system; `system` "": no system (`|code`); `code` None: any code in
    the system (`system|`).  For `:of-type` the code is `<type code>|<value>`."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class DateQuery:
    prefix: Prefix
    low: str  # inclusive range the query value covers
    high: str


@dataclass(frozen=True, slots=True)
class NumberQuery:
    prefix: Prefix
    value: float
    low: float  # inclusive range implied by the value's precision
    high: float


@dataclass(frozen=True, slots=True)
class QuantityQuery:
    prefix: Prefix
    value: float
    low: float
    high: float
    system: str | None  # None: any system
    code: str | None  # None: any unit; matched against code, or unit when system is None


@dataclass(frozen=True, slots=True)
class ReferenceQuery:
    """`Patient/123`, a bare id `123` (type None), or an absolute/canonical `url`."""

    type: str | None = None
    id: str | None = None
    url: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class UriQuery:
    value: str


@dataclass(frozen=True, slots=True)
class CompositeQuery:
    components: tuple[QueryValue, ...]


@dataclass(frozen=True, slots=True)
class MissingQuery:
    missing: bool


QueryValue = (
    StringQuery
    | TokenQuery
    | DateQuery
    | NumberQuery
    | QuantityQuery
    | ReferenceQuery
    | UriQuery
    | CompositeQuery
    | MissingQuery
)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One search parameter occurrence on one resource type: its values are ORed.

    `type` is the parameter type after modifiers are applied: `:identifier` on a reference
    parameter gives token values; `:text` on a token gives string values; `:missing` gives one
    MissingQuery.  `modifier` keeps the modifier as written (`exact`, `contains`, `missing`,
    `not`, `text`, `identifier`, `above`, `below`, `of-type`, or a resource type for
    references).  `_id` and `_lastUpdated` arrive here like any other parameter."""

    resource_type: str
    code: str
    type: str
    modifier: str | None
    values: tuple[QueryValue, ...]


@dataclass(frozen=True, slots=True)
class ChainCriterion:
    """`subject:Patient.name=x`: resources whose reference parameter `code` points at a
    resource of one of `target_types` that satisfies `inner`."""

    resource_type: str
    code: str
    target_types: tuple[str, ...]
    inner: Condition


@dataclass(frozen=True, slots=True)
class HasCriterion:
    """`_has:Observation:patient:code=x`: resources referenced through `reference_param` by
    some `source_type` resource that satisfies `inner`."""

    resource_type: str
    source_type: str
    reference_param: str
    inner: Condition


Condition = Criterion | ChainCriterion | HasCriterion


@dataclass(frozen=True, slots=True)
class SortKey:
    code: str
    type: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Include:
    """`_include=Source:param[:Target]` or `_revinclude=...`; `param` "*" means every
    reference parameter of `source_type`."""

    source_type: str
    param: str
    target_type: str | None = None
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A parsed search: the types searched and the ANDed conditions, plus result controls.

    `resource_types` has one entry for a type-level search and several (or every type) for a
    system-level search.  `count` 0 with `summary` "count" asks for the total only."""

    resource_types: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 20
    offset: int = 0
    total: Literal["none", "estimate", "accurate"] = "accurate"
    summary: Literal["true", "false", "count", "text", "data"] | None = None
    elements: tuple[str, ...] = ()
    includes: tuple[Include, ...] = ()
    revincludes: tuple[Include, ...] = ()
    ignored: tuple[str, ...] = field(default=())  # unknown parameters dropped under lenient handling
