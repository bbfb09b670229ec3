"""`POST /hl7v2`: one HL7 v2 message (or batch) over HTTP, for senders that speak HTTP
rather than MLLP.

The body is the message as it would travel over MLLP, `Content-Type: application/hl7-v2`
(HL7's media type for ER7; `x-application/hl7-v2+er7` is accepted too).  The caller sends
the same bearer token as to the FHIR API and writes as that principal, so the access policy
decides whether it may write into the institution the sending facility maps to.  The answer
is the ACK (200, `application/hl7-v2`, in the message's charset) whatever it says: the ACK is
HL7's answer; only a body without any readable MSH is a 400 OperationOutcome, since there is
nothing to acknowledge.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from yilian.api.auth import Authenticator, challenge
from yilian.api.body import read_limited
from yilian.api.errors import outcome_response
from yilian.api.request import request_headers
from yilian.feeds.hl7_intake import Hl7Intake
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["HL7_MEDIA_TYPE", "HL7_ROUTE", "add_hl7_route"]

HL7_ROUTE = "/hl7v2"
HL7_MEDIA_TYPE = "application/hl7-v2"
_ACCEPTED = frozenset({HL7_MEDIA_TYPE, "x-application/hl7-v2+er7", "application/x-hl7"})


def add_hl7_route(app: FastAPI, auth: Authenticator, intake: Hl7Intake, max_bytes: int) -> None:
    async def hl7v2(request: Request) -> Response:
        headers = request_headers(request)
        try:
            principal = await auth.principal(headers)
            media_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if media_type not in _ACCEPTED:
                raise OutcomeError(
                    Outcome.UNSUPPORTED_MEDIA_TYPE,
                    IssueType.NOT_SUPPORTED,
                    f"POST {HL7_ROUTE} takes Content-Type: {HL7_MEDIA_TYPE} (an HL7 v2 message in ER7), "
                    f"not {media_type or 'no content type'!r}",
                )
            body = await read_limited(request.stream(), headers.get("content-length"), max_bytes)
        except OutcomeError as exc:
            response = outcome_response(exc)
            if exc.kind is Outcome.UNAUTHORIZED:
                response.headers["www-authenticate"] = challenge(exc)
            return response
        client = request.client.host if request.client else "unknown"
        delivery = await intake.receive(
            body, channel="http", peer=f"{principal.subject}@{client}", principal=principal
        )
        if not delivery.readable:
            reason = delivery.receipts[0].error if delivery.receipts else "no MSH segment"
            return outcome_response(OutcomeError.invalid(f"not an HL7 v2 message: {reason}"))
        return Response(delivery.ack, media_type=HL7_MEDIA_TYPE)

    app.add_api_route(
        HL7_ROUTE,
        hl7v2,
        methods=["POST"],
        name="hl7v2",
        summary="Receive one HL7 v2 message or batch; answers its ACK",
        tags=["Feeds"],
        response_class=Response,
    )
