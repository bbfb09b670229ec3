"""Search conditions -> SQL predicates over the search-index tables.

Each condition becomes `<alias>.rid IN (SELECT rid FROM idx_<type> WHERE param = ? AND (...))`
with the criterion's values ORed inside (http://hl7.org/fhir/R4/search.html#combining); the
uncorrelated form lets both engines start from the index table's b-tree.  Chains join
`idx_reference` to the target resource rows and recurse; `_has` joins the other way.  Every
resource row a predicate reaches, at any depth, passes the `Scope` filter and the not-deleted
filter, so a chain cannot see through an access boundary.

Prefix semantics follow http://hl7.org/fhir/R4/search.html#prefix: both the stored value and
the query value are inclusive ranges (dates by precision, numbers by significant figures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from yilian.fhir.outcome import OutcomeError
from yilian.fhir.search.model import (
    ChainCriterion,
    CompositeQuery,
    Condition,
    Criterion,
    DateQuery,
    HasCriterion,
    MissingQuery,
    NumberQuery,
    Prefix,
    QuantityQuery,
    QueryValue,
    ReferenceQuery,
    StringQuery,
    TokenQuery,
    UriQuery,
    normalize_string,
)
from yilian.store.base import Scope
from yilian.store.sql.compartment import grant_predicate
from yilian.store.sql.dialect import Dialect
from yilian.store.sql.fragment import Sql
from yilian.store.sql.planning import (
    Compiled,
    DateRange,
    date_ap,
    drive_order,
    low_bounds,
    merge_dates,
    single_date,
)

__all__ = [
    "TABLE_BY_TYPE",
    "Compiled",
    "ConditionCompiler",
    "DateRange",
    "drive_order",
    "low_bounds",
    "merge_dates",
    "single_date",
]

TABLE_BY_TYPE = {
    "string": "idx_string",
    "token": "idx_token",
    "date": "idx_date",
    "number": "idx_number",
    "quantity": "idx_quantity",
    "reference": "idx_reference",
    "uri": "idx_uri",
    "composite": "idx_composite",
}

_NON_TYPE_MODIFIERS = frozenset(
    {"exact", "contains", "missing", "not", "text", "identifier", "above", "below", "of-type", "in", "not-in"}
)

Column = Callable[[str], str]
"""An index row's column name -> the expression a predicate compares (plain, or kept off
its index in a probe)."""


class ConditionCompiler:
    """Compiles the conditions of one statement; hands out unique table aliases."""

    def __init__(self, dialect: Dialect, scope: Scope) -> None:
        self.dialect = dialect
        self.scope = scope
        self._aliases = 0

    def alias(self, stem: str) -> str:
        self._aliases += 1
        return f"{stem}{self._aliases}"

    # -- row filters --------------------------------------------------------------------------
    def visible(self, alias: str) -> Sql:
        """`alias` is a current, not deleted resource inside the scope."""
        return Sql(f"NOT {alias}.deleted AND ") + self.scope_filter(alias)

    def scope_filter(self, alias: str, type_column: str | None = None) -> Sql:
        """The Scope as a predicate on the row (or version) aliased `alias`: the one place an
        access policy turns into SQL, so every read path gets it.

        Rows of the scope's partitions, or rows a consent grant opens (`compartment.py`), and
        of the scope's types only.  `type_column` is the resource type of the row (a version
        row has none of its own: history passes its resource row's)."""
        scope = self.scope
        type_column = type_column or f"{alias}.res_type"
        if scope.partitions is None:
            rows = Sql("1=1")
        else:
            reach = (
                [self.dialect.in_list(f"{alias}.partition", sorted(scope.partitions))]
                if scope.partitions
                else []
            )
            reach += [grant_predicate(self.dialect, alias, type_column, g) for g in scope.grants]
            rows = Sql.any_of(reach).wrap("(", ")")  # callers AND it onto their own conditions
        if scope.types is None:
            return rows
        return Sql.all_of([rows, self.dialect.in_list(type_column, sorted(scope.types))])

    # -- conditions ---------------------------------------------------------------------------
    def condition(self, cond: Compiled, r: str) -> Sql:
        """A predicate on the resource row aliased `r` in membership form,
        `r.rid IN (SELECT rid FROM idx_... WHERE ...)`: the form a statement is driven from
        (the engine starts at the index table's value b-tree and reaches `r` by its key)."""
        if isinstance(cond, DateRange):
            return self._date_range(cond, r, probe=False)
        if isinstance(cond, ChainCriterion):
            return self._chain(cond, r, probe=False)
        if isinstance(cond, HasCriterion):
            return self._has(cond, r, probe=False)
        return self._criterion(cond, r, probe=False)

    def probe(self, cond: Compiled, r: str) -> Sql:
        """The same predicate as a correlated test of one candidate row,
        `EXISTS (SELECT 1 FROM idx_... a WHERE a.rid = r.rid AND a.param = ? AND ...)`, read
        through the `(rid, param)` index: once a selective criterion has found the candidates,
        the others cost a few index rows per candidate instead of a whole parameter's rows.
        The value columns are kept off their own indexes (`Dialect.unindexed`) so no engine
        prefers the value b-tree for a probe."""
        if isinstance(cond, DateRange):
            return self._date_range(cond, r, probe=True)
        if isinstance(cond, ChainCriterion):
            return self._chain(cond, r, probe=True)
        if isinstance(cond, HasCriterion):
            return self._has(cond, r, probe=True)
        return self._criterion(cond, r, probe=True)

    def conditions(self, conds: Sequence[Condition], r: str) -> tuple[Sql, Compiled | None]:
        """Every condition ANDed on row `r`, date criteria on a single-valued parameter merged
        (`merge_dates`): the most selective one (`drive_order`) in membership form, the others
        as probes.  Also returns the driving condition (None when no condition can drive and
        the statement starts from the resource table)."""
        driver, rest = drive_order(merge_dates(conds))
        parts = [self.condition(driver, r)] if driver is not None else []
        parts += [self.probe(c, r) for c in rest]
        return Sql.all_of(parts), driver

    def _chain(self, c: ChainCriterion, r: str, probe: bool) -> Sql:
        ref, t = self.alias("c"), self.alias("t")
        parts = [Sql(f"{ref}.param = ?", (c.code,))]
        if c.target_types:
            parts.append(self.dialect.in_list(f"{ref}.target_type", list(c.target_types)))
        inner = self.probe(c.inner, t) if probe else self.condition(c.inner, t)
        parts += [self.visible(t), inner]
        # Membership form: the target rows come from the inner condition's candidates (by rid),
        # so the join's type test must not send the engine through every target of the type;
        # a probe reaches the target through its (type, id) key.
        target_type = f"{t}.res_type" if probe else self.dialect.unindexed(f"{t}.res_type")
        join = (
            f"FROM idx_reference {ref} JOIN resource {t} "
            f"ON {target_type} = {ref}.target_type AND {t}.res_id = {ref}.target_id WHERE "
        )
        if probe:
            return Sql(f"EXISTS (SELECT 1 {join}{ref}.rid = {r}.rid AND ") + Sql.all_of(parts) + ")"
        return Sql(f"{r}.rid IN (SELECT {ref}.rid {join}") + Sql.all_of(parts) + ")"

    def _date_range(self, m: DateRange, r: str, probe: bool) -> Sql:
        """Every criterion of `m` on one `idx_date` row.  The membership form adds the bounds
        the criteria imply on `low` (redundant, so the result is unchanged) for the
        `(param, low, high)` index to read only the rows between them."""
        a = self.alias("i")
        if probe:
            unindexed = self.dialect.unindexed
            head = Sql(
                f"EXISTS (SELECT 1 FROM idx_date {a} WHERE {a}.rid = {r}.rid AND {a}.param = ? AND ",
                (m.code,),
            )
            tests = Sql.all_of(self._values(c, lambda n: unindexed(f"{a}.{n}")) for c in m.criteria)
            return head + tests + ")"
        lower, upper = low_bounds(m)
        parts = [Sql(f"{a}.low >= ?", (lower,))] if lower is not None else []
        parts += [Sql(f"{a}.low <= ?", (upper,))] if upper is not None else []
        parts += [self._values(c, lambda n: f"{a}.{n}") for c in m.criteria]
        return (
            Sql(f"{r}.rid IN (SELECT {a}.rid FROM idx_date {a} WHERE {a}.param = ? AND ", (m.code,))
            + Sql.all_of(parts)
            + ")"
        )

    def _has(self, c: HasCriterion, r: str, probe: bool) -> Sql:
        ref, s = self.alias("h"), self.alias("s")
        source = Sql(
            f"{ref}.param = ? AND {self.dialect.unindexed(f'{s}.res_type')} = ?",
            (c.reference_param, c.source_type),
        )
        if probe:
            # The referring rows of this candidate, through the (target_id, target_type, param)
            # index.
            parts = [source, self.visible(s), self.probe(c.inner, s)]
            return (
                Sql(
                    f"EXISTS (SELECT 1 FROM idx_reference {ref} JOIN resource {s} ON {s}.rid = {ref}.rid "
                    f"WHERE {ref}.target_id = {r}.res_id AND {ref}.target_type = {r}.res_type AND "
                )
                + Sql.all_of(parts)
                + ")"
            )
        t = self.alias("t")
        parts = [source, self.visible(s), self.condition(c.inner, s)]
        return (
            Sql(
                f"{r}.rid IN (SELECT {t}.rid FROM idx_reference {ref} "
                f"JOIN resource {s} ON {s}.rid = {ref}.rid "
                f"JOIN resource {t} ON {t}.res_type = {ref}.target_type AND {t}.res_id = {ref}.target_id "
                "WHERE "
            )
            + Sql.all_of(parts)
            + ")"
        )

    def _criterion(self, c: Criterion, r: str, probe: bool) -> Sql:
        missing = next((v for v in c.values if isinstance(v, MissingQuery)), None)
        if c.code == "_id":
            return self._resource_column(c, missing, lambda v: self._id_value(v, r))
        if c.code == "_lastUpdated":
            return self._resource_column(c, missing, lambda v: self._last_updated_value(v, r))
        table, param = self._table(c)
        a = self.alias("i")
        # A negated criterion (`:missing=true`, `:not`) never drives: it is a per-row test.
        negated = (missing is not None and missing.missing) or (missing is None and c.modifier == "not")
        if probe or negated:
            unindexed = self.dialect.unindexed
            head = Sql(
                f"EXISTS (SELECT 1 FROM {table} {a} WHERE {a}.rid = {r}.rid AND {a}.param = ?", (param,)
            )
            if missing is not None:
                test = head + ")"
            else:
                test = head + " AND " + self._values(c, lambda n: unindexed(f"{a}.{n}")) + ")"
            return test.wrap("NOT ", "") if negated else test
        if missing is not None:
            return Sql(f"{r}.rid IN (SELECT {a}.rid FROM {table} {a} WHERE {a}.param = ?)", (param,))
        return (
            Sql(f"{r}.rid IN (SELECT {a}.rid FROM {table} {a} WHERE {a}.param = ? AND ", (param,))
            + self._values(c, lambda n: f"{a}.{n}")
            + ")"
        )

    def _values(self, c: Criterion, col: Column) -> Sql:
        """The criterion's values ORed, over the index row's columns as `col` names them, in
        parentheses: callers append this after `param = ? AND`, and without them
        `param = ? AND (a) OR (b)` lets `b` match rows of every parameter."""
        return Sql.any_of(self._value(c, v, col) for v in c.values).wrap("(", ")")

    def _resource_column(
        self, c: Criterion, missing: MissingQuery | None, one: Callable[[QueryValue], Sql]
    ) -> Sql:
        """`_id` and `_lastUpdated` live on the resource row itself and are never missing."""
        if missing is not None:
            return Sql("1=0") if missing.missing else Sql("1=1")
        matching = Sql.any_of(one(v) for v in c.values)
        return matching.wrap("NOT (", ")") if c.modifier == "not" else matching

    def _id_value(self, v: QueryValue, r: str) -> Sql:
        if isinstance(v, TokenQuery) and v.code is not None:
            return Sql(f"{r}.res_id = ?", (v.code,))
        if isinstance(v, StringQuery | UriQuery):
            return Sql(f"{r}.res_id = ?", (v.value,))
        raise OutcomeError.invalid("_id takes a resource id", ["_id"])

    def _last_updated_value(self, v: QueryValue, r: str) -> Sql:
        if not isinstance(v, DateQuery):
            raise OutcomeError.invalid("_lastUpdated takes a date", ["_lastUpdated"])
        return date_predicate(v, f"{r}.last_updated_key", f"{r}.last_updated_key")

    @staticmethod
    def _table(c: Criterion) -> tuple[str, str]:
        """The index table and the stored parameter code a criterion searches."""
        if c.modifier == "text":
            return "idx_token", c.code
        if c.modifier == "identifier":
            return "idx_reference", c.code
        if c.modifier == "of-type":
            return "idx_token", f"{c.code}:of-type"
        table = TABLE_BY_TYPE.get(c.type)
        if table is None:
            raise OutcomeError.not_supported(
                f"search parameter {c.code!r} of type {c.type!r} is not supported", [c.code]
            )
        return table, c.code

    def _value(self, c: Criterion, v: QueryValue, col: Column) -> Sql:
        d = self.dialect
        if isinstance(v, StringQuery):
            text = normalize_string(v.value)
            if c.modifier == "text":
                return d.starts_with(col("display"), text)
            if c.modifier == "exact":
                return Sql(f"{col('value_exact')} = ?", (v.value,))
            if c.modifier == "contains":
                return d.contains(col("value_norm"), text)
            return d.starts_with(col("value_norm"), text)
        if isinstance(v, TokenQuery):
            if c.modifier == "identifier":
                return token_predicate(v, col("ident_system"), col("ident_value"))
            return token_predicate(v, col("system"), col("code"))
        if isinstance(v, DateQuery):
            return date_predicate(v, col("low"), col("high"))
        if isinstance(v, QuantityQuery):
            return quantity_predicate(v, col("low"), col("high"), col("system"), col("code"), col("unit"))
        if isinstance(v, NumberQuery):
            return number_predicate(v, col("low"), col("high"))
        if isinstance(v, ReferenceQuery):
            return self._reference(c, v, col)
        if isinstance(v, UriQuery):
            if c.modifier == "below":
                return d.starts_with(col("value"), v.value)
            if c.modifier == "above":
                return d.is_prefix_of(col("value"), v.value)
            return Sql(f"{col('value')} = ?", (v.value,))
        if isinstance(v, CompositeQuery):
            return Sql.all_of(self._component(q, col, i) for i, q in enumerate(v.components, start=1))
        raise OutcomeError.invalid(f"a {type(v).__name__} does not fit parameter {c.code!r}", [c.code])

    @staticmethod
    def _reference(c: Criterion, v: ReferenceQuery, col: Column) -> Sql:
        type_modifier = c.modifier if c.modifier and c.modifier not in _NON_TYPE_MODIFIERS else None
        if v.url is not None:
            parts = [Sql(f"{col('url')} = ?", (v.url,))]
            if v.version is not None:
                parts.append(Sql(f"{col('version')} = ?", (v.version,)))
            return Sql.all_of(parts)
        parts = [Sql(f"{col('target_id')} = ?", (v.id,))]
        target_type = v.type or type_modifier
        if target_type is not None:
            parts.append(Sql(f"{col('target_type')} = ?", (target_type,)))
        return Sql.all_of(parts)

    def _component(self, q: QueryValue, col: Column, slot: int) -> Sql:
        """One component of a composite value against its slot's columns."""

        def p(name: str) -> str:
            return col(f"c{slot}_{name}")

        if isinstance(q, TokenQuery):
            return token_predicate(q, p("system"), p("code"))
        if isinstance(q, ReferenceQuery):
            if q.url is not None:
                return Sql(f"{p('text')} = ?", (q.url,))
            parts = [Sql(f"{p('code')} = ?", (q.id,))]
            if q.type is not None:
                parts.append(Sql(f"{p('system')} = ?", (q.type,)))
            return Sql.all_of(parts)
        if isinstance(q, QuantityQuery):
            return quantity_predicate(q, p("nlo"), p("nhi"), p("system"), p("code"), p("unit"))
        if isinstance(q, NumberQuery):
            return number_predicate(q, p("nlo"), p("nhi"))
        if isinstance(q, DateQuery):
            return date_predicate(q, p("dlo"), p("dhi"))
        if isinstance(q, StringQuery):
            return self.dialect.starts_with(p("text"), normalize_string(q.value))
        if isinstance(q, UriQuery):
            return Sql(f"{p('text')} = ?", (q.value,))
        raise OutcomeError.invalid(f"a {type(q).__name__} cannot be a composite component")


# ------------------------------------------------------------------------ value predicates


def token_predicate(q: TokenQuery, system: str, code: str) -> Sql:
    """`system|code`, `|code` (no system), `system|` (any code), `code` (any system)."""
    parts: list[Sql] = []
    if q.system is not None:
        parts.append(Sql(f"{system} IS NULL") if q.system == "" else Sql(f"{system} = ?", (q.system,)))
    if q.code is not None:
        parts.append(Sql(f"{code} = ?", (q.code,)))
    return Sql.all_of(parts)


def range_predicate(
    prefix: Prefix, low: str, high: str, q_low: object, q_high: object, ap: tuple[object, object]
) -> Sql:
    """The stored inclusive range `[low, high]` against the query range under `prefix`
    (http://hl7.org/fhir/R4/search.html#prefix).

    Stored ranges are never empty (`low <= high`, open ends stored as the extreme keys), so
    each prefix is written in its simplest equivalent form, with the bound it implies on `low`
    spelled out wherever there is one: the index leads with `(param, low)`, and a bounded range
    on `low` is what lets it read only the matching rows (`ge` and `gt` bound only `high`)."""
    match prefix:
        case "eq":  # inside: ql <= low <= high <= qh
            return Sql(f"{low} >= ? AND {low} <= ? AND {high} <= ?", (q_low, q_high, q_high))
        case "ne":
            return Sql(f"{low} < ? OR {high} > ?", (q_low, q_high))
        case "gt":
            return Sql(f"{high} > ?", (q_high,))
        case "lt":
            return Sql(f"{low} < ?", (q_low,))
        case "ge":  # above the query range, or inside it: high > qh OR (low >= ql AND high <= qh)
            return Sql(f"{low} >= ? OR {high} > ?", (q_low, q_high))
        case "le":  # below it, or inside it: low < ql OR (low >= ql AND high <= qh)
            return Sql(f"{low} <= ? AND ({low} < ? OR {high} <= ?)", (q_high, q_low, q_high))
        case "sa":
            return Sql(f"{low} > ?", (q_high,))
        case "eb":  # high < ql, so low < ql too
            return Sql(f"{low} < ? AND {high} < ?", (q_low, q_low))
        case "ap":
            return Sql(f"{low} <= ? AND {high} >= ?", (ap[1], ap[0]))
    raise OutcomeError.invalid(f"unknown prefix {prefix!r}")


def date_predicate(q: DateQuery, low: str, high: str) -> Sql:
    return range_predicate(q.prefix, low, high, q.low, q.high, date_ap(q))


def number_predicate(q: NumberQuery | QuantityQuery, low: str, high: str) -> Sql:
    margin = abs(q.value) * 0.1
    return range_predicate(q.prefix, low, high, q.low, q.high, (q.low - margin, q.high + margin))


def quantity_predicate(q: QuantityQuery, low: str, high: str, system: str, code: str, unit: str) -> Sql:
    """Value under the prefix, plus units: with a system, system and code must both match;
    without one, the code matches either the UCUM code or the human unit."""
    parts = [number_predicate(q, low, high)]
    if q.system is not None:
        parts.append(Sql(f"{system} = ?", (q.system,)))
        if q.code is not None:
            parts.append(Sql(f"{code} = ?", (q.code,)))
    elif q.code is not None:
        parts.append(Sql(f"{code} = ? OR {unit} = ?", (q.code, q.code)))
    return Sql.all_of(parts)
