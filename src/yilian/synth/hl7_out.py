"""The synthetic alliance as HL7 v2.4 messages, the way a member's HIS and LIS send them.

Per registration an ADT^A28 (add person) first; per outpatient or emergency visit an
ADT^A04 (registered and, as the visit is over, with its end in PV1-45); per inpatient stay
an ADT^A01 at admission and an ADT^A03 at discharge; per lab order an ORU^R01 from the lab.
Messages are UTF-8 (MSH-18 `UNICODE UTF-8`), segments end in CR, MSH-4 is the institution's
`facility` and control ids are derived from what each message is about, so the same history
always gives the same bytes.  `ingest.hl7` maps them back to FHIR; the tests check that the
result equals what `synth.fhir_out` writes for the same events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date, datetime

from yilian.alliance.identifiers import RESIDENT_ID_TYPE
from yilian.ingest.hl7.ack import escape
from yilian.synth import model

__all__ = ["messages"]

VERSION = "2.4"
_CLASS = {"outpatient": "O", "emergency": "E", "inpatient": "I"}
_SEX = {"male": "M", "female": "F"}
_STRUCTURES = {"A01": "ADT_A01", "A04": "ADT_A01", "A03": "ADT_A03", "A28": "ADT_A05"}


def _e(text: str | None) -> str:
    return escape(text or "")


def _ts(when: datetime) -> str:
    text = when.strftime("%Y%m%d%H%M%S")
    return text + when.strftime("%z") if when.utcoffset() is not None else text


def _dt(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _control_id(*parts: str) -> str:
    """A control id (at most 20 characters, as MSH-10 allows) that names what the message
    is about, the same every run."""
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:20].upper()


def _segment(*fields: str) -> str:
    return "|".join(fields).rstrip("|")


def _msh(institution: model.Institution, when: datetime, kind: str, structure: str, control: str) -> str:
    application = "LIS" if kind.startswith("ORU") else "HIS"
    fields = ["MSH", "^~\\&", application, _e(institution.facility), "YILIAN", "YILIAN", _ts(when), ""]
    fields += [f"{kind}^{structure}", control, "P", VERSION, "", "", "", "", "", "UNICODE UTF-8"]
    return "|".join(fields)


def _address(registration: model.Registration) -> str:
    """XAD with the levels the desk typed: province (XAD-4), city (3), county (9), and the
    rest of the text as the street (1), so the parts read in order give the typed text."""
    text = registration.address_text
    if not text:
        return ""
    state = city = county = ""
    if registration.address is not None:
        address = registration.address
        if address.province and text.startswith(address.province):
            state, text = address.province, text[len(address.province) :]
        if address.city and text.startswith(address.city):
            city, text = address.city, text[len(address.city) :]
        if address.county and text.startswith(address.county):
            county, text = address.county, text[len(address.county) :]
    return "^".join([_e(text), "", _e(city), _e(state), "", "CHN", "H", "", _e(county)]).rstrip("^")


def _pid(registration: model.Registration, institution: model.Institution) -> str:
    ids = [f"{_e(registration.mrn)}^^^{_e(institution.facility)}^MR"]
    if registration.resident_id:
        ids.append(f"{_e(registration.resident_id)}^^^CHN^{RESIDENT_ID_TYPE}")
    name = f"{_e(registration.family)}^{_e(registration.given)}^^^^^L"
    phone = f"{_e(registration.phone)}^PRN^CP" if registration.phone else ""
    fields = ["PID", "1", "", "~".join(ids), "", name, "", _dt(registration.birth_date)]
    fields += [_SEX[registration.sex], "", "", _address(registration), "", phone]
    return _segment(*fields)


def _pv1(
    encounter: model.Encounter, institution: model.Institution, directory: model.Directory, *, end: bool
) -> str:
    department = directory.department(encounter.institution, encounter.department)
    doctor = directory.practitioner(encounter.practitioner)
    fields = ["PV1", "1", _CLASS[encounter.kind], f"{_e(department.code)}^^^{_e(institution.facility)}"]
    fields += ["", "", "", f"{_e(doctor.id)}^{_e(doctor.name)}", "", "", _e(department.code)]
    fields += [""] * 8  # PV1-11 .. PV1-18
    fields += [f"{_e(encounter.visit_number)}^^^{_e(institution.facility)}^VN"]  # PV1-19
    fields += [""] * 24  # PV1-20 .. PV1-43
    fields += [_ts(encounter.start), _ts(encounter.end) if end else ""]  # PV1-44, PV1-45
    return _segment(*fields)


def _dg1(diagnosis: model.Diagnosis, encounter: model.Encounter) -> str:
    kind = "F" if encounter.kind != "inpatient" else "A"
    fields = ["DG1", str(diagnosis.rank), "", f"{_e(diagnosis.code)}^{_e(diagnosis.name)}^I10", ""]
    fields += [_ts(encounter.start), kind] + [""] * 8 + [str(diagnosis.rank)]  # DG1-15 priority
    return _segment(*fields)


def _adt(
    event: str,
    when: datetime,
    registration: model.Registration,
    institution: model.Institution,
    body: list[str],
    subject: str,
) -> str:
    control = _control_id(institution.code, event, subject)
    segments = [_msh(institution, when, f"ADT^{event}", _STRUCTURES[event], control)]
    segments += [_segment("EVN", event, _ts(when)), _pid(registration, institution), *body]
    return "".join(s + "\r" for s in segments)


def _oru(
    order: model.LabOrder,
    encounter: model.Encounter,
    registration: model.Registration,
    institution: model.Institution,
    directory: model.Directory,
) -> str:
    control = _control_id(institution.code, "R01", order.filler_id)
    facility = _e(institution.facility)
    orderer = directory.practitioner(order.orderer)
    segments = [_msh(institution, order.reported, "ORU^R01", "ORU_R01", control)]
    segments.append(_pid(registration, institution))
    segments.append(_pv1(encounter, institution, directory, end=encounter.kind != "inpatient"))
    placer, filler = f"{_e(order.order_id)}^{facility}", f"{_e(order.filler_id)}^{facility}"
    who = f"{_e(orderer.id)}^{_e(orderer.name)}"
    segments.append(
        _segment("ORC", "RE", placer, filler, "", "CM", "", "", "", "", _ts(order.ordered), "", "", who)
    )
    obr = ["OBR", "1", placer, filler, f"{_e(order.code)}^{_e(order.name)}^LN", "", _ts(order.ordered)]
    obr += [_ts(order.results[0].observed if order.results else order.ordered)] + [""] * 8  # OBR-7 .. OBR-15
    obr += [who] + [""] * 5 + [_ts(order.reported), "", "", "F"]  # OBR-16, OBR-22, OBR-25
    segments.append(_segment(*obr))
    for n, result in enumerate(order.results, 1):
        segments.append(_obx(n, result))
    return "".join(s + "\r" for s in segments)


def _obx(n: int, result: model.LabResult) -> str:
    numeric = isinstance(result.value, int | float)
    value = _number(result.value) if isinstance(result.value, int | float) else _e(result.value)
    unit = f"{_e(result.unit)}^{_e(result.unit)}^UCUM" if result.unit else ""
    if result.low is not None and result.high is not None:
        limits = f"{_number(result.low)}-{_number(result.high)}"
    elif result.low is not None:
        limits = f">{_number(result.low)}"
    elif result.high is not None:
        limits = f"<{_number(result.high)}"
    else:
        limits = ""
    fields = ["OBX", str(n), "NM" if numeric else "ST", f"{_e(result.code)}^{_e(result.name)}^LN", ""]
    fields += [value, unit, limits, result.flag, "", "", "F", "", "", _ts(result.observed)]
    return _segment(*fields)


def messages(history: model.History, directory: model.Directory) -> Iterator[str]:
    """The history's events as HL7 v2.4 messages, in time order per registration (see the
    module docstring)."""
    for _, message in institution_messages(history, directory):
        yield message


def institution_messages(history: model.History, directory: model.Directory) -> Iterator[tuple[str, str]]:
    """`messages`, each with the institution whose HIS sends it (its MSH-4 facility)."""
    yield from _messages(history, directory)


def _messages(history: model.History, directory: model.Directory) -> Iterator[tuple[str, str]]:
    registrations = {r.registration_id: r for r in history.registrations}
    for registration in history.registrations:
        institution = directory.institution(registration.institution)
        encounters = sorted(
            (e for e in history.encounters if e.registration_id == registration.registration_id),
            key=lambda e: e.start,
        )
        first = encounters[0].start if encounters else None
        when = first or datetime.combine(registration.birth_date or date(2000, 1, 1), datetime.min.time())
        yield institution.code, _adt("A28", when, registration, institution, [], registration.registration_id)
        for encounter in encounters:
            registration = registrations[encounter.registration_id]
            diagnoses = [_dg1(d, encounter) for d in sorted(encounter.diagnoses, key=lambda d: d.rank)]
            if encounter.kind == "inpatient":
                pv1 = _pv1(encounter, institution, directory, end=False)
                yield (
                    institution.code,
                    _adt(
                        "A01",
                        encounter.start,
                        registration,
                        institution,
                        [pv1, *diagnoses],
                        encounter.visit_number,
                    ),
                )
            else:
                pv1 = _pv1(encounter, institution, directory, end=True)
                yield (
                    institution.code,
                    _adt(
                        "A04",
                        encounter.start,
                        registration,
                        institution,
                        [pv1, *diagnoses],
                        encounter.visit_number,
                    ),
                )
            for order in sorted(encounter.labs, key=lambda o: o.reported):
                yield institution.code, _oru(order, encounter, registration, institution, directory)
            if encounter.kind == "inpatient":
                pv1 = _pv1(encounter, institution, directory, end=True)
                yield (
                    institution.code,
                    _adt(
                        "A03",
                        encounter.end,
                        registration,
                        institution,
                        [pv1, *diagnoses],
                        encounter.visit_number,
                    ),
                )
