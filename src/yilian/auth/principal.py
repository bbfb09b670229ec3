"""The authenticated caller and the SMART on FHIR scopes its token grants.

Claims carry the user's institution (the partition code), role and, for patients, their
Patient id (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).  A Principal
is a frozen value built once per request by the api layer and read by policy and audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = ["ROLES", "Principal", "Role", "SmartScope"]

Role = Literal[
    "doctor",
    "nurse",
    "records",
    "insurance",
    "researcher",
    "regulator",
    "admin",
    "patient",
    "system",
    "anonymous",
]
ROLES: tuple[str, ...] = tuple(r for r in get_args(Role) if r != "anonymous")
"""The roles a token may claim.  `anonymous` is never granted: it only names the caller in the
audit record of a request whose token was missing or refused (`Principal.anonymous()`)."""

Permission = Literal["c", "r", "u", "d", "s"]


@dataclass(frozen=True, slots=True)
class SmartScope:
    """One granted scope, normalised to SMART v2: `patient/Observation.rs`; v1 `read` means
    `rs` and `write` means `cud`; `*` means all five permissions."""

    context: Literal["patient", "user", "system"]
    resource_type: str  # a resource type or "*"
    permissions: frozenset[Permission]

    def covers(self, resource_type: str, permission: Permission) -> bool:
        return (self.resource_type in ("*", resource_type)) and permission in self.permissions


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the token says.

    `institution` is the caller's partition code (None for alliance-level callers such as the
    regulator or the system client); `patient` is the Patient id of a patient user;
    `purpose` is the purpose of use the request declares (treatment, payment, research,
    public-health, emergency); `break_glass_reason` is set only for an emergency request."""

    subject: str
    role: Role
    institution: str | None = None
    scopes: tuple[SmartScope, ...] = ()
    patient: str | None = None
    issuer: str = ""
    token_id: str | None = None
    purpose: str | None = None
    break_glass_reason: str | None = None
    claims: dict[str, object] = field(default_factory=dict, compare=False, hash=False)

    def allows(self, resource_type: str, permission: Permission) -> bool:
        """Whether any granted scope covers `permission` on `resource_type`."""
        return any(s.covers(resource_type, permission) for s in self.scopes)

    @classmethod
    def anonymous(cls) -> Principal:
        """The caller of a request that failed authentication, for its audit record only; no
        policy ever grants it anything."""
        return cls(subject="anonymous", role="anonymous")

    @classmethod
    def development(cls) -> Principal:
        """The caller when authentication is switched off (`--auth off`, local development
        only): the alliance's system client with every scope."""
        return cls(
            subject="development",
            role="system",
            scopes=(SmartScope("system", "*", frozenset(("c", "r", "u", "d", "s"))),),
        )
