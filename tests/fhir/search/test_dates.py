"""FHIR dates as the UTC ranges search compares (http://hl7.org/fhir/R4/search.html#date)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yilian.fhir.search.dates import date_range, normalize_instant, normalize_time, now_instant
from yilian.fhir.search.model import DATE_MAX, DATE_MIN
from yilian.fhir.search.precision import decimal_range, number_range


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("2020", "2020-01-01T00:00:00.000000", "2020-12-31T23:59:59.999999"),
        ("2020-02", "2020-02-01T00:00:00.000000", "2020-02-29T23:59:59.999999"),
        ("2021-02", "2021-02-01T00:00:00.000000", "2021-02-28T23:59:59.999999"),
        ("2020-12-31", "2020-12-31T00:00:00.000000", "2020-12-31T23:59:59.999999"),
        ("2020-03-04T10:00", "2020-03-04T10:00:00.000000", "2020-03-04T10:00:59.999999"),
        ("2020-03-04T10:00:05Z", "2020-03-04T10:00:05.000000", "2020-03-04T10:00:05.999999"),
        ("2020-03-04T10:00:05.5Z", "2020-03-04T10:00:05.500000", "2020-03-04T10:00:05.599999"),
        ("2020-03-04T10:00:05.123456789Z", "2020-03-04T10:00:05.123456", "2020-03-04T10:00:05.123456"),
        ("2020-03-04T08:00:00+08:00", "2020-03-04T00:00:00.000000", "2020-03-04T00:00:00.999999"),
        ("2020-01-01T01:00:00+08:00", "2019-12-31T17:00:00.000000", "2019-12-31T17:00:00.999999"),
        ("2020-03-04T20:00:00-05:00", "2020-03-05T01:00:00.000000", "2020-03-05T01:00:00.999999"),
        ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.000000", "2016-12-31T23:59:59.999999"),
        ("9999", "9999-01-01T00:00:00.000000", DATE_MAX),
        ("0001-01-01T00:00:00+01:00", DATE_MIN, DATE_MIN),
        ("9999-12-31T23:30:00-01:00", DATE_MAX, DATE_MAX),
    ],
)
def test_date_ranges(text: str, low: str, high: str) -> None:
    assert date_range(text) == (low, high)


@pytest.mark.parametrize(
    "text",
    [
        *(
            "",
            "20",
            "2020-1",
            "2020-13",
            "2020-02-30",
            "2020-01-01T",
            "2020-01-01T25:00Z",
            "2020-01-01T10:61",
        ),
        *(
            "x2020",
            "2020-01-01 10:00",
            "2020-01-01T10:00:00+15:00",
            "2020-01-01T10:00:00+0800",
            "2020-01-01Z",
        ),
    ],
)
def test_invalid_dates_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        date_range(text)


def test_instants_for_last_updated() -> None:
    now = now_instant()
    assert now.endswith("+00:00")
    assert len(now.split(".")[1]) == len("123456+00:00")
    parsed = datetime.fromisoformat(now)
    assert abs(parsed - datetime.now(UTC)) < timedelta(minutes=5)
    assert normalize_instant(now) == now.removesuffix("+00:00")
    assert normalize_instant("2020-01-01T08:00:00.25+08:00") == "2020-01-01T00:00:00.250000"
    with pytest.raises(ValueError):
        normalize_instant("yesterday")


def test_times() -> None:
    assert normalize_time("09:30") == "09:30:00.000000"
    assert normalize_time("23:59:59.5") == "23:59:59.500000"
    for bad in ("24:00", "9:30", "12:60:00", "noon"):
        with pytest.raises(ValueError):
            normalize_time(bad)


def test_decimal_precision_ranges() -> None:
    assert decimal_range("100") == (100.0, 99.5, 100.5)
    assert decimal_range("100.00") == (100.0, 99.995, 100.005)
    assert decimal_range("1e2") == (100.0, 50.0, 150.0)
    assert number_range(7) == (6.5, 7.5)
    for bad in ("abc", "", "NaN", "Infinity", "1e99999999999", "1e400", "1_000", " 1", "1.", "0x10"):
        with pytest.raises(ValueError):
            decimal_range(bad)


# --------------------------------------------------------------------------- properties

_instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
_offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))


def _zone(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _prefixes(moment: datetime, zone: str) -> list[str]:
    """The same moment written at every precision, coarsest first."""
    y, mo, d = f"{moment.year:04d}", f"{moment.month:02d}", f"{moment.day:02d}"
    hm = f"{moment.hour:02d}:{moment.minute:02d}"
    s = f"{moment.second:02d}"
    return [
        y,
        f"{y}-{mo}",
        f"{y}-{mo}-{d}",
        f"{y}-{mo}-{d}T{hm}{zone}",
        f"{y}-{mo}-{d}T{hm}:{s}{zone}",
        f"{y}-{mo}-{d}T{hm}:{s}.{moment.microsecond:06d}{zone}",
    ]


@given(_instants, _offsets)
def test_ranges_are_ordered_and_nest(moment: datetime, offset: timedelta) -> None:
    zone = _zone(offset)
    local = moment.astimezone(UTC).replace(tzinfo=None) + offset
    texts = _prefixes(local, zone)
    ranges = [date_range(t) for t in texts]
    for low, high in ranges:
        assert low <= high
        assert len(low) == len(high) == len(DATE_MIN)
    # Finer values lie inside their coarser prefix while both are read in the same zone:
    # the date-only forms carry no zone, so nesting is checked among the timed forms only.
    timed = ranges[3:]
    for (outer_low, outer_high), (inner_low, inner_high) in itertools.pairwise(timed):
        assert outer_low <= inner_low <= inner_high <= outer_high
    for (outer_low, outer_high), (inner_low, inner_high) in itertools.pairwise(ranges[:3]):
        assert outer_low <= inner_low <= inner_high <= outer_high


@given(_instants)
def test_instant_round_trip(moment: datetime) -> None:
    text = moment.isoformat(timespec="microseconds")
    normal = normalize_instant(text)
    assert datetime.fromisoformat(normal).replace(tzinfo=UTC) == moment
    assert normalize_instant(normal + "Z") == normal
    low, high = date_range(text)
    assert low == high == normal


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_decimal_ranges_contain_their_value(value: object) -> None:
    number, low, high = decimal_range(str(value))
    assert low <= number <= high
