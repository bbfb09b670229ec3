"""MDM^T02 (original document notification and content) -> DocumentReference
(http://build.fhir.org/ig/HL7/v2-to-fhir/ConceptMap-segment-txa-to-documentreference.html).

Keyed by the unique document number (TXA-12) under `document_system`.  The document is the
message's OBX: TX/FT/ST lines joined as UTF-8 text, or one ED value (type/subtype as the
content type, Base64 data kept as it is, other data encoded as UTF-8).  A T02 without
content is rejected (AE 101): it would announce a document yilian cannot show.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from yilian.alliance.identifiers import document_system
from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import MappingContext
from yilian.ingest.hl7.datatypes import person_name, to_instant
from yilian.ingest.hl7.errors import DATA_TYPE_ERROR, REQUIRED_FIELD_MISSING, SEGMENT_SEQUENCE_ERROR, Hl7Error
from yilian.ingest.hl7.fields import Seg
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.orders import context_entries

__all__ = ["map_documents"]

_STATUS = {"AV": "current", "OB": "superseded", "CA": "entered-in-error", "UN": "current"}  # TXA-19
_DOC_STATUS = {  # TXA-17, table 0271
    "AU": "final",
    "LA": "final",
    "DI": "preliminary",
    "DO": "preliminary",
    "IP": "preliminary",
    "IN": "preliminary",
    "PA": "preliminary",
}


def _attachment(message: Hl7Message) -> dict[str, Any] | None:
    lines: list[str] = []
    for obx in message.segments("OBX"):
        kind = obx.get(2).upper()
        if kind in ("TX", "FT", "ST"):
            lines.extend("^".join(c[0] if c else "" for c in r.components).rstrip("^") for r in obx.reps(5))
        elif kind == "ED":
            rep = obx.rep(5)
            media, subtype, encoding, data = rep.get(2), rep.get(3), rep.get(4).upper(), rep.get(5)
            if not data:
                continue
            if encoding == "BASE64":
                try:
                    base64.b64decode(data, validate=True)
                except (binascii.Error, ValueError):
                    raise Hl7Error.content(
                        DATA_TYPE_ERROR, "OBX-5.5 says Base64 but is not valid Base64", obx.where(5, 5)
                    ) from None
                encoded = data
            else:
                encoded = base64.b64encode(data.encode()).decode()
            content_type = f"{media}/{subtype}".lower() if media and subtype else "application/octet-stream"
            return {"contentType": content_type, "data": encoded}
    if lines:
        text = "\n".join(lines)
        return {"contentType": "text/plain; charset=utf-8", "data": base64.b64encode(text.encode()).decode()}
    return None


def _author(txa: Seg) -> str:
    for field in (5, 9, 22):
        rep = txa.rep(field)
        name = person_name(rep, offset=1) or rep.get(1)
        if name:
            return name
    return ""


def map_documents(message: Hl7Message, ctx: MappingContext, out: TransactionBuilder) -> None:
    """MDM^T02: the DocumentReference and its patient and visit (if new)."""
    txa = message.segment("TXA")
    if txa is None:
        raise Hl7Error.content(SEGMENT_SEQUENCE_ERROR, "MDM^T02 needs a TXA segment (the document)", "TXA")
    number_ = txa.get(12)
    if not number_:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING, "TXA-12, the unique document number, is missing", txa.where(12)
        )
    attachment = _attachment(message)
    if attachment is None:
        raise Hl7Error.content(
            REQUIRED_FIELD_MISSING,
            "the document has no content: no OBX with TX, FT, ST or ED data in OBX-5",
            "OBX-5",
        )
    key = {"system": document_system(ctx.institution), "value": number_}
    patient_url, encounter_url = context_entries(message, ctx, out)
    resource: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "masterIdentifier": key,
        "identifier": [key],
        "status": _STATUS.get(txa.get(19).upper(), "current"),
    }
    doc_status = _DOC_STATUS.get(txa.get(17).upper())
    if doc_status:
        resource["docStatus"] = doc_status
    kind = txa.get(2)
    if kind:
        resource["type"] = {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0270", "code": kind}]
        }
    resource["subject"] = {"reference": patient_url}
    date = to_instant(txa.get(4), ctx, txa.where(4)) or to_instant(txa.get(6), ctx, txa.where(6))
    if date:
        resource["date"] = date
    author = _author(txa)
    if author:
        resource["author"] = [{"display": author}]
    title = txa.get(23) if txa.size >= 23 else ""
    if title:
        attachment["title"] = title
    resource["content"] = [{"attachment": attachment}]
    if encounter_url:
        resource["context"] = {"encounter": [{"reference": encounter_url}]}
    out.put(resource, key)
