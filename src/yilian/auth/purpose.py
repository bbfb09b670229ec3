"""Purpose of use and break-the-glass, as a request declares them.

PIPL lets medical data be processed only for a stated purpose, so every request states one:
the `X-Purpose-Of-Use` header (`treatment`, `payment`, `research`, `public-health`,
`emergency`), else the token's `purpose` claim, else `treatment`.  These map onto the HL7
PurposeOfUse codes TREAT, HPAYMT, HRESCH, PUBHLTH and ETREAT
(http://terminology.hl7.org/ValueSet/v3-PurposeOfUse).  Break-the-glass is an emergency
request with a reason (`X-Break-Glass-Reason`): the reason is kept only when the purpose is
`emergency`; whether an emergency without a reason is allowed is the policy's decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from yilian.auth.principal import Principal
from yilian.fhir.outcome import OutcomeError

__all__ = [
    "BREAK_GLASS_HEADER",
    "DEFAULT_PURPOSE",
    "PURPOSES",
    "PURPOSE_CODES",
    "PURPOSE_HEADER",
    "with_purpose",
]

PURPOSES: tuple[str, ...] = ("treatment", "payment", "research", "public-health", "emergency")
DEFAULT_PURPOSE = "treatment"
PURPOSE_CODES = {
    "treatment": "TREAT",
    "payment": "HPAYMT",
    "research": "HRESCH",
    "public-health": "PUBHLTH",
    "emergency": "ETREAT",
}
PURPOSE_HEADER = "x-purpose-of-use"
BREAK_GLASS_HEADER = "x-break-glass-reason"
MAX_REASON_CHARS = 500


def with_purpose(principal: Principal, headers: Mapping[str, str]) -> Principal:
    """`principal` with the purpose and break-the-glass reason of a request whose
    (lower-cased) `headers` are given; an unknown purpose is a 400."""
    declared = headers.get(PURPOSE_HEADER, "").strip().lower()
    if declared and declared not in PURPOSES:
        raise OutcomeError.invalid(
            f"X-Purpose-Of-Use must be one of {', '.join(PURPOSES)}, not {declared[:40]!r}"
        )
    purpose = declared or principal.purpose or DEFAULT_PURPOSE
    reason: str | None = " ".join(headers.get(BREAK_GLASS_HEADER, "").split())
    if purpose != "emergency" or not reason:
        reason = None
    elif len(reason) > MAX_REASON_CHARS:
        raise OutcomeError.invalid(f"X-Break-Glass-Reason is longer than {MAX_REASON_CHARS} characters")
    if purpose == principal.purpose and reason == principal.break_glass_reason:
        return principal
    return replace(principal, purpose=purpose, break_glass_reason=reason)
