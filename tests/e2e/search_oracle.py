"""An evaluator of FHIR searches over the loaded Synthea JSON, for the property-based test.

It shares nothing with yilian's search code: each parameter below says in plain Python which
elements of a resource it reads (after the R4 search parameter definitions) and each type
says how a value matches (after http://hl7.org/fhir/R4/search.html).  A criterion is one
parameter with its modifier and its comma-separated values (any value may match); a search is
criteria ANDed.  Resources are known by their bundle fullUrl; `Oracle.ids` maps them to the
server's `Type/id`, and `Oracle.last_updated` holds the instants the server reported when it
stored them.

Organizations and Practitioners are left out: Synthea repeats them, under one fullUrl, in
every bundle that mentions them, so the server holds several copies the JSON cannot tell apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.e2e.synthea_oracle import Corpus

Resource = dict[str, Any]
Interval = tuple[datetime, datetime]  # half-open [start, end)

EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def fold(text: str) -> str:
    """Case- and accent-insensitive, spaces collapsed (R4: string search ignores case and
    accents)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


# ------------------------------------------------------------------------------ dates

_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def interval(text: str) -> Interval:
    """The span a FHIR date, dateTime or instant covers at its precision (UTC when no zone)."""
    m = _DATE.match(text)
    if m is None:
        raise ValueError(f"not a FHIR date: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if month is None:
        start = datetime(int(year), 1, 1, tzinfo=UTC)
        return start, start.replace(year=start.year + 1)
    if day is None:
        start = datetime(int(year), int(month), 1, tzinfo=UTC)
        following = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        return start, following
    if hour is None:
        start = datetime(int(year), int(month), int(day), tzinfo=UTC)
        return start, start + timedelta(days=1)
    offset = timedelta(0)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    start = (naive - offset).replace(tzinfo=UTC)
    if second is None:
        return start, start + timedelta(minutes=1)
    if fraction:
        digits = fraction[1:][:6]
        start += timedelta(microseconds=int(digits.ljust(6, "0")))
        return start, start + timedelta(microseconds=10 ** (6 - len(digits)))
    return start, start + timedelta(seconds=1)


def period(value: Any) -> Interval | None:
    if not isinstance(value, dict) or not ({"start", "end"} & value.keys()):
        return None
    low = interval(value["start"])[0] if "start" in value else EARLIEST
    high = interval(value["end"])[1] if "end" in value else LATEST
    return low, high


def date_matches(prefix: str, target: Interval, query: Interval) -> bool:
    (tl, te), (ql, qe) = target, query
    inside = ql <= tl and te <= qe
    return {
        "eq": inside,
        "ne": not inside,
        "gt": te > qe,
        "lt": tl < ql,
        "ge": te > qe or inside,
        "le": tl < ql or inside,
        "sa": tl >= qe,
        "eb": te <= ql,
    }[prefix]


# ---------------------------------------------------------------------------- numbers


def decimal_range(value: Decimal) -> tuple[Decimal, Decimal]:
    """The implicit range of a decimal: half a unit of its last significant digit each side."""
    exponent = value.as_tuple().exponent
    half = Decimal(5) * Decimal(10) ** (int(exponent) - 1)
    return value - half, value + half


def number_matches(prefix: str, target: Decimal, query: Decimal) -> bool:
    tl, th = decimal_range(target)
    ql, qh = decimal_range(query)
    inside = ql <= tl and th <= qh
    return {
        "eq": inside,
        "ne": not inside,
        "gt": th > qh,
        "lt": tl < ql,
        "ge": th > qh or inside,
        "le": tl < ql or inside,
        "sa": tl > qh,
        "eb": th < ql,
    }[prefix]


# ---------------------------------------------------------------------------- values


def codings(value: Any) -> list[tuple[str | None, str | None]]:
    """(system, code) pairs of a CodeableConcept, a Coding, or a list of either."""
    if isinstance(value, list):
        return [pair for item in value for pair in codings(item)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [(c.get("system"), c.get("code")) for c in value["coding"]]
    if "code" in value:
        return [(value.get("system"), value.get("code"))]
    return []


def code(value: Any) -> list[tuple[str | None, str | None]]:
    return [(None, value)] if isinstance(value, str) else []


def identifiers(value: Any) -> list[tuple[str | None, str | None]]:
    return [(i.get("system"), i.get("value")) for i in value or [] if isinstance(i, dict)]


def first(res: Resource, *elements: str) -> Any:
    return next((res[e] for e in elements if e in res), None)


def dates(res: Resource, *elements: str) -> list[Interval]:
    """The spans of the first present element: a date(Time) string or a Period."""
    value = first(res, *elements)
    if isinstance(value, str):
        return [interval(value)]
    span = period(value)
    return [span] if span else []


def name_parts(res: Resource) -> list[str]:
    out: list[str] = []
    for name in res.get("name", []) if isinstance(res.get("name"), list) else []:
        out += [name.get("family", ""), name.get("text", "")]
        for key in ("given", "prefix", "suffix"):
            out += name.get(key, [])
    return [p for p in out if p]


def address_parts(res: Resource, key: str) -> list[str]:
    return [a[key] for a in res.get("address", []) if isinstance(a.get(key), str)]


# ---------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Param:
    """One search parameter of one type: its type and what it reads from a resource.

    `read(res)` gives strings (string, uri), (system, code) pairs (token), spans (date),
    bundle fullUrls (reference), (Decimal, system, code, unit) tuples (quantity) or Decimals
    (number).  `targets`: the types a reference may be chained into."""

    name: str
    type: str
    read: Callable[[Resource], list[Any]]
    targets: tuple[str, ...] = ()
    sortable: bool = True


def _ref(element: str, target: str | None = None) -> Callable[[Resource], list[Any]]:
    def read(res: Resource) -> list[Any]:
        value = res.get(element)
        refs = value if isinstance(value, list) else [value]
        urls = [
            SERVER_TO_URL.get(r["reference"], r["reference"])
            for r in refs
            if isinstance(r, dict) and isinstance(r.get("reference"), str)
        ]
        return [u for u in urls if target is None or TYPE_OF.get(u) == target]

    return read


SERVER_TO_URL: dict[str, str] = {}
"""`Type/id` on the server -> fullUrl, filled by `Oracle`."""

TYPE_OF: dict[str, str] = {}
"""fullUrl -> resource type, filled by `Oracle` (a reference's target type comes from the
resource it points at)."""


def _quantity(res: Resource) -> list[Any]:
    q = res.get("valueQuantity")
    if not isinstance(q, dict) or "value" not in q:
        return []
    return [(Decimal(str(q["value"])), q.get("system"), q.get("code"), q.get("unit"))]


def _meta(key: str) -> Callable[[Resource], list[Any]]:
    return lambda res: res.get("meta", {}).get(key, [])


def _common(res_type: str) -> list[Param]:
    return [
        Param("_tag", "token", lambda r: codings(r.get("meta", {}).get("tag", [])), sortable=False),
        Param("_profile", "uri", _meta("profile"), sortable=False),
    ]


def _subject(res_type: str, element: str = "subject") -> list[Param]:
    params = [Param("patient", "reference", _ref(element, "Patient"), ("Patient",))]
    if element == "subject":
        params.append(Param("subject", "reference", _ref("subject"), ("Patient",)))
    return params


CATALOGUE: dict[str, list[Param]] = {
    "Patient": [
        Param("name", "string", name_parts),
        Param("family", "string", lambda r: [n["family"] for n in r.get("name", []) if "family" in n]),
        Param("given", "string", lambda r: [g for n in r.get("name", []) for g in n.get("given", [])]),
        Param("gender", "token", lambda r: code(r.get("gender"))),
        Param("birthdate", "date", lambda r: dates(r, "birthDate")),
        Param("address-city", "string", lambda r: address_parts(r, "city")),
        Param("address-state", "string", lambda r: address_parts(r, "state")),
        Param("identifier", "token", lambda r: identifiers(r.get("identifier")), sortable=False),
    ],
    "Observation": [
        Param("code", "token", lambda r: codings(r.get("code"))),
        Param("category", "token", lambda r: codings(r.get("category", []))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("date", "date", lambda r: dates(r, "effectiveDateTime", "effectivePeriod", "effectiveInstant")),
        Param("value-quantity", "quantity", _quantity, sortable=False),
        Param("value-concept", "token", lambda r: codings(r.get("valueCodeableConcept"))),
        Param("encounter", "reference", _ref("encounter"), ("Encounter",)),
        *_subject("Observation"),
    ],
    "Encounter": [
        Param("type", "token", lambda r: codings(r.get("type", []))),
        Param("class", "token", lambda r: codings(r.get("class"))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("date", "date", lambda r: dates(r, "period")),
        Param("reason-code", "token", lambda r: codings(r.get("reasonCode", []))),
        *_subject("Encounter"),
    ],
    "Condition": [
        Param("code", "token", lambda r: codings(r.get("code"))),
        Param("clinical-status", "token", lambda r: codings(r.get("clinicalStatus"))),
        Param("verification-status", "token", lambda r: codings(r.get("verificationStatus"))),
        Param("onset-date", "date", lambda r: dates(r, "onsetDateTime", "onsetPeriod")),
        Param("abatement-date", "date", lambda r: dates(r, "abatementDateTime", "abatementPeriod")),
        Param("encounter", "reference", _ref("encounter"), ("Encounter",)),
        *_subject("Condition"),
    ],
    "Immunization": [
        Param("vaccine-code", "token", lambda r: codings(r.get("vaccineCode"))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("date", "date", lambda r: dates(r, "occurrenceDateTime")),
        *_subject("Immunization", "patient"),
    ],
    "MedicationRequest": [
        Param("code", "token", lambda r: codings(r.get("medicationCodeableConcept"))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("intent", "token", lambda r: code(r.get("intent"))),
        Param("authoredon", "date", lambda r: dates(r, "authoredOn")),
        Param("encounter", "reference", _ref("encounter"), ("Encounter",)),
        *_subject("MedicationRequest"),
    ],
    "Procedure": [
        Param("code", "token", lambda r: codings(r.get("code"))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("date", "date", lambda r: dates(r, "performedDateTime", "performedPeriod")),
        Param("encounter", "reference", _ref("encounter"), ("Encounter",)),
        *_subject("Procedure"),
    ],
    "DiagnosticReport": [
        Param("code", "token", lambda r: codings(r.get("code"))),
        Param("status", "token", lambda r: code(r.get("status"))),
        Param("category", "token", lambda r: codings(r.get("category", []))),
        Param("date", "date", lambda r: dates(r, "effectiveDateTime", "effectivePeriod")),
        Param("encounter", "reference", _ref("encounter"), ("Encounter",)),
        *_subject("DiagnosticReport"),
    ],
    "RiskAssessment": [
        Param(
            "probability",
            "number",
            lambda r: [Decimal(str(p["probabilityDecimal"])) for p in r.get("prediction", [])],
            sortable=False,
        ),
        *_subject("RiskAssessment"),
    ],
}
for _type, _params in CATALOGUE.items():
    _params += _common(_type)


def param(res_type: str, name: str) -> Param:
    return next(p for p in CATALOGUE[res_type] if p.name == name)


# ---------------------------------------------------------------------------- criteria


@dataclass(frozen=True)
class Value:
    """One value of a criterion, already parsed by the test that wrote its text."""

    text: str  # as it goes in the URL
    prefix: str = "eq"
    token: tuple[str | None, str | None] | None = None  # (system or None for any, code or None)
    no_system: bool = False  # `|code`
    span: Interval | None = None
    number: Decimal | None = None
    unit: tuple[str | None, str | None] | None = None  # quantity (system, code)
    target: str | None = None  # reference: fullUrl
    ids: frozenset[str] = frozenset()  # _id


@dataclass(frozen=True)
class Criterion:
    """`name[:modifier]=v1,v2`, or a chain `name:Target.inner`, or `_has:Type:ref:inner`."""

    name: str
    values: tuple[Value, ...] = ()
    modifier: str = ""
    chain: tuple[str, Criterion] | None = None  # (target type, inner criterion on it)
    has: tuple[str, str, Criterion] | None = None  # (source type, its reference param, inner)

    def query(self) -> str:
        if self.chain is not None:
            target, inner = self.chain
            return f"{self.name}:{target}.{inner.query()}"
        if self.has is not None:
            source, ref, inner = self.has
            return f"_has:{source}:{ref}:{inner.query()}"
        key = f"{self.name}:{self.modifier}" if self.modifier else self.name
        return f"{key}={','.join(v.text for v in self.values)}"


class Oracle:
    """The loaded corpus with the server's ids and stamps (a plain class: hypothesis prints a
    dataclass field by field, and these fields hold the whole corpus)."""

    def __init__(self, corpus: Corpus, ids: dict[str, str], last_updated: dict[str, str]) -> None:
        self.corpus = corpus
        self.ids = ids  # fullUrl -> "Type/id"
        self.last_updated = last_updated  # fullUrl -> instant the server stored it at
        self.by_type: dict[str, list[str]] = {}
        self._has_cache: dict[tuple[str, str, Criterion], set[str]] = {}
        # The supplementary RiskAssessments refer to patients by server id, not fullUrl.
        SERVER_TO_URL.update({server: url for url, server in ids.items()})
        for url, res in self.corpus.by_url.items():
            TYPE_OF[url] = res["resourceType"]
            self.by_type.setdefault(res["resourceType"], []).append(url)
        for urls in self.by_type.values():
            urls.sort()

    def values(self, res_type: str, name: str, url: str) -> list[Any]:
        res = self.corpus.by_url[url]
        if name == "_id":
            return [self.ids[url].split("/")[1]]
        if name == "_lastUpdated":
            return [interval(self.last_updated[url])]
        return param(res_type, name).read(res)

    def matches(self, res_type: str, c: Criterion, url: str) -> bool:
        if c.chain is not None:
            target_type, inner = c.chain
            targets = param(res_type, c.name).read(self.corpus.by_url[url])
            return any(TYPE_OF.get(t) == target_type and self.matches(target_type, inner, t) for t in targets)
        if c.has is not None:
            return url in self._referred(c.has)
        values = self.values(res_type, c.name, url)
        if c.modifier == "missing":
            wanted = c.values[0].text == "true"
            return (not values) == wanted
        kind = (
            "token"
            if c.name == "_id"
            else "date"
            if c.name == "_lastUpdated"
            else param(res_type, c.name).type
        )
        if c.modifier == "not":
            return not any(self._one(kind, "", v, q) for v in values for q in c.values)
        return any(self._one(kind, c.modifier, v, q) for v in values for q in c.values)

    def _referred(self, has: tuple[str, str, Criterion]) -> set[str]:
        """What the `source` resources matching `inner` refer to through `ref` (once per
        `_has` criterion: asked resource by resource it would scan every source each time)."""
        if has not in self._has_cache:
            source, ref, inner = has
            reader = param(source, ref).read
            self._has_cache[has] = {
                target
                for s in self.by_type.get(source, [])
                if self.matches(source, inner, s)
                for target in reader(self.corpus.by_url[s])
            }
        return self._has_cache[has]

    def _one(self, kind: str, modifier: str, value: Any, q: Value) -> bool:
        if kind == "string":
            if modifier == "exact":
                return bool(value == _unquote(q.text))
            if modifier == "contains":
                return fold(_unquote(q.text)) in fold(value)
            return fold(value).startswith(fold(_unquote(q.text)))
        if kind == "uri":
            return bool(value == _unquote(q.text))
        if kind == "token":
            if isinstance(value, str):  # _id
                return value in q.ids
            system, code_ = value
            assert q.token is not None
            want_system, want_code = q.token
            if q.no_system and system is not None:
                return False
            return (want_system is None or system == want_system) and (
                want_code is None or code_ == want_code
            )
        if kind == "date":
            assert q.span is not None
            return date_matches(q.prefix, value, q.span)
        if kind == "reference":
            return bool(value == q.target)
        if kind == "number":
            assert q.number is not None
            return number_matches(q.prefix, value, q.number)
        if kind == "quantity":
            number, system, code_, unit = value
            assert q.number is not None
            if not number_matches(q.prefix, number, q.number):
                return False
            if q.unit is None:
                return True
            want_system, want_code = q.unit
            if want_system is not None:
                return system == want_system and code_ == want_code
            return want_code in (code_, unit)
        raise AssertionError(f"no oracle for {kind}")

    def select(self, res_type: str, criteria: Iterable[Criterion]) -> set[str]:
        wanted = list(criteria)
        return {
            u for u in self.by_type.get(res_type, []) if all(self.matches(res_type, c, u) for c in wanted)
        }


def _unquote(text: str) -> str:
    """A value's text as the server decodes it (the test escapes `,`, `$`, `|` and `\\`)."""
    return re.sub(r"\\(.)", r"\1", text)
