"""HL7 v2 data types to FHIR data types, as the v2-to-FHIR guide maps them.

http://build.fhir.org/ig/HL7/v2-to-fhir/datatype_maps.html: TS/DTM -> dateTime, DT -> date,
XPN -> HumanName, XAD -> Address, XTN -> ContactPoint, CX -> Identifier, CWE/CE ->
CodeableConcept, XCN -> a display name.  Each function takes the parsed value and returns the
FHIR JSON, or None when there is nothing (or nothing valid) to map; malformed values of
optional fields are left out with a warning, those the mapping needs raise Hl7Error AE.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from yilian.alliance.identifiers import RESIDENT_ID_SYSTEM, RESIDENT_ID_TYPE, mrn_system
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.errors import DATA_TYPE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Rep

__all__ = [
    "V2_0203",
    "address",
    "codeable_concept",
    "contact_point",
    "has_cjk",
    "human_name",
    "identifier",
    "number",
    "person_name",
    "to_date",
    "to_datetime",
    "to_instant",
]

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_CJK = re.compile("[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")

CODE_SYSTEMS = {
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "I9": "http://hl7.org/fhir/sid/icd-9-cm",
    "UCUM": "http://unitsofmeasure.org",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "C4": "http://www.ama-assn.org/go/cpt",
    "ATC": "http://www.whocc.no/atc",
}
"""Name of coding system (HL7 table 0396) -> FHIR system URI."""


def has_cjk(text: str) -> bool:
    """True when `text` holds Chinese characters (names and addresses are then written
    without spaces, family name first)."""
    return bool(_CJK.search(text))


def _offset(text: str | None, ctx: MappingContext) -> str | None:
    if not text:
        return ctx.options.timezone
    hours, minutes = int(text[1:3]), int(text[3:5])
    if minutes > 59 or hours > 14 or (hours == 14 and minutes):
        return None
    return f"{text[0]}{text[1:3]}:{text[3:5]}"


def _parse_ts(value: str, ctx: MappingContext) -> str | None:
    """The FHIR dateTime of an HL7 TS/DTM, or None when malformed."""
    match = _TS.fullmatch(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    if year == "0000":
        return None
    if hour is None:
        return year + (f"-{month}" if month else "") + (f"-{day}" if day else "")
    zone = _offset(offset, ctx)
    if zone is None:
        return None
    frac = fraction if fraction and second else ""
    return f"{year}-{month}-{day}T{hour}:{minute or '00'}:{second or '00'}{frac}{zone}"


def _bad(ctx: MappingContext, where: str, what: str, value: str, required: bool) -> None:
    text = f"{value!r} is not a valid HL7 {what}"
    if required:
        raise Hl7Error.content(DATA_TYPE_ERROR, text, where)
    ctx.warn(where, text + "; left out")


def to_datetime(value: str, ctx: MappingContext, where: str, *, required: bool = False) -> str | None:
    """An HL7 TS/DTM (`YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]`) as a FHIR dateTime; a time
    without an offset gets the sender's timezone (`MappingOptions.timezone`)."""
    if not value:
        return None
    parsed = _parse_ts(value, ctx)
    if parsed is None:
        _bad(ctx, where, "timestamp", value, required)
        return None
    return parsed


def to_date(value: str, ctx: MappingContext, where: str, *, required: bool = False) -> str | None:
    """An HL7 DT (or the date part of a TS) as a FHIR date."""
    if not value:
        return None
    parsed = _parse_ts(value, ctx)
    if parsed is None:
        _bad(ctx, where, "date", value, required)
        return None
    return parsed.split("T")[0]


def to_instant(value: str, ctx: MappingContext, where: str) -> str | None:
    """An HL7 TS as a FHIR instant (which needs a time): a date alone is left out."""
    result = to_datetime(value, ctx, where)
    if result is not None and "T" not in result:
        ctx.warn(where, f"{value!r} has no time of day, which a FHIR instant needs; left out")
        return None
    return result


def number(value: str) -> int | float | None:
    """A decimal's JSON number, or None when `value` is not one."""
    if not _NUMBER.fullmatch(value):
        return None
    return int(value) if re.fullmatch(r"[+-]?\d+", value) else float(value)


def human_name(rep: Rep) -> dict[str, Any] | None:
    """XPN -> HumanName: family (XPN-1.1), given (XPN-2, XPN-3), suffix, prefix, use
    (XPN-7); `text` for Chinese names, family name then given name with no space."""
    family, given, middle = rep.get(1, 1), rep.get(2), rep.get(3)
    suffix, prefix, kind = rep.get(4), rep.get(5), rep.get(7)
    name: dict[str, Any] = {}
    uses = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname", "A": "anonymous", "C": "old"}
    if kind in uses:
        name["use"] = uses[kind]
    if family or given or middle:
        if has_cjk(family + given + middle):
            name["text"] = family + given + middle
        if family:
            name["family"] = family
        givens = [g for g in (given, middle) if g]
        if givens:
            name["given"] = givens
    if prefix:
        name["prefix"] = [prefix]
    if suffix:
        name["suffix"] = [suffix]
    return name if any(k in name for k in ("family", "given", "text")) else None


def person_name(rep: Rep, offset: int = 0) -> str:
    """An XCN/XPN as one display string (`张三`, `Kathleen Woolfson`); `offset` 1 for XCN,
    whose name starts at component 2."""
    family, given = rep.get(1 + offset, 1), rep.get(2 + offset)
    if has_cjk(family + given):
        return family + given
    return " ".join(p for p in (given, family) if p)


def address(rep: Rep) -> dict[str, Any] | None:
    """XAD -> Address: line (XAD-1.1, XAD-2), city (3), state (4, 省), postalCode (5),
    country (6), use/type (7), district (9, 县/区); `text` for Chinese addresses, the levels
    from province down, as the national data set writes them."""
    street, other = rep.get(1, 1), rep.get(2)
    city, state, postal, country = rep.get(3), rep.get(4), rep.get(5), rep.get(6)
    kind, district = rep.get(7), rep.get(9)
    out: dict[str, Any] = {}
    uses = {"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old", "HV": "temp"}
    if kind in uses:
        out["use"] = uses[kind]
    elif kind == "M":
        out["type"] = "postal"
    lines = [p for p in (street, other) if p]
    if has_cjk(state + city + district + street + other):
        out["text"] = state + city + district + street + other
    if lines:
        out["line"] = lines
    for key, value in (("city", city), ("district", district), ("state", state)):
        if value:
            out[key] = value
    if postal:
        out["postalCode"] = postal
    if country:
        out["country"] = country
    return out if len(out) > (1 if "use" in out or "type" in out else 0) else None


def contact_point(rep: Rep) -> dict[str, Any] | None:
    """XTN -> ContactPoint: value from XTN-1 (or the email XTN-4, the unformatted XTN-12,
    the area code and number XTN-6/7), system from the equipment type XTN-3, use from the
    use code XTN-2 (a cellular phone is `mobile`)."""
    use_code, equipment = rep.get(2).upper(), rep.get(3).upper()
    email = rep.get(4)
    value = rep.get(1) or rep.get(12)
    if not value and email:
        value = email
    if not value and rep.get(7):
        value = rep.get(6) + rep.get(7)
    if not value:
        return None
    systems = {
        "PH": "phone",
        "CP": "phone",
        "FX": "fax",
        "BP": "pager",
        "INTERNET": "email",
        "X.400": "email",
    }
    out: dict[str, Any] = {"system": systems.get(equipment, "email" if use_code == "NET" else "phone")}
    out["value"] = value
    if equipment == "CP":
        out["use"] = "mobile"
    elif use_code in ("WPN",):
        out["use"] = "work"
    elif use_code in ("PRN", "ORN", "VHN"):
        out["use"] = "home"
    return out


def _authority_system(rep: Rep, ctx: MappingContext) -> tuple[str, str]:
    """(system, assigner name) of a CX, by its assigning authority (CX-4) and type (CX-5)."""
    authority = rep.get(4, 1) or rep.get(4, 2)
    kind = rep.get(5).upper()
    if kind == RESIDENT_ID_TYPE or authority.upper() == "CHN":
        return RESIDENT_ID_SYSTEM, authority
    if authority:
        code = ctx.options.authorities.get(authority)
        if code is None and authority == ctx.header.sending_facility:
            code = ctx.institution
        if code is not None:
            return mrn_system(code), authority
        return f"urn:yilian:hl7:authority:{quote(authority, safe='')}", authority
    if kind in ("", "MR", "PI", "PT", "MRN"):
        return mrn_system(ctx.institution), ""
    return f"urn:yilian:hl7:{quote(ctx.institution, safe='')}:{quote(kind, safe='')}", ""


def identifier(rep: Rep, ctx: MappingContext) -> dict[str, Any] | None:
    """CX -> Identifier: value CX-1, system by assigning authority (see
    `MappingOptions.authorities`), type CX-5 as a v2-0203 coding, assigner.display the
    authority as sent."""
    value = rep.get(1)
    if not value:
        return None
    system, authority = _authority_system(rep, ctx)
    out: dict[str, Any] = {"system": system, "value": value}
    kind = rep.get(5)
    if kind:
        out["type"] = {"coding": [{"system": V2_0203, "code": kind}]}
    if authority:
        out["assigner"] = {"display": authority}
    return out


def _coding(code: str, display: str, system_name: str) -> dict[str, Any] | None:
    if not code and not display:
        return None
    coding: dict[str, Any] = {}
    name = system_name.upper()
    if name in CODE_SYSTEMS:
        coding["system"] = CODE_SYSTEMS[name]
    elif re.fullmatch(r"HL7\d{4}", name):
        coding["system"] = f"http://terminology.hl7.org/CodeSystem/v2-{name[3:]}"
    elif system_name:
        coding["system"] = f"urn:yilian:hl7:codesystem:{quote(system_name, safe='')}"
    if code:
        coding["code"] = code
    if display:
        coding["display"] = display
    return coding if code else None


def codeable_concept(rep: Rep) -> dict[str, Any] | None:
    """CWE/CE -> CodeableConcept: the identifier triplet (1-3) and the alternate (4-6) as
    codings, the text (CWE-9, else the first display) as text."""
    codings = [
        c
        for c in (_coding(rep.get(1), rep.get(2), rep.get(3)), _coding(rep.get(4), rep.get(5), rep.get(6)))
        if c
    ]
    text = rep.get(9) or rep.get(2) or rep.get(5)
    out: dict[str, Any] = {}
    if codings:
        out["coding"] = codings
    if text:
        out["text"] = text
    return out or None
