"""`AlliancePolicy`: who may see and change what, decided once per interaction (and once per
entry of a batch or transaction Bundle: the Bundle itself is open to every known role and
reads nothing, the router asks again for each entry).

The router asks `access(repository, request)` before every interaction; the answer is an
`Access` whose `Scope` the store turns into part of every query's WHERE clause (so counts,
paging, `_include`, chains and history never show more), or a 403 OperationOutcome saying
what is missing.  The rules, in order (docs/security.md tells them for people):

1. The role (privacy/roles.py) must allow the resource type for the interaction, and the
   purpose of use declared must be one the role may declare.
2. A SMART scope must cover it (http://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
   `c` create, `r` read/vread/history, `u` update/patch, `d` delete, `s` search; a system-level
   search or history needs a `*` scope.  When only `patient/` scopes cover it, the reader is
   held to the compartment of the patient in context.  Reads only see the types the scopes
   cover, so an `_include` cannot bring in a type the token was not granted.
3. The `system` role with `system/` scopes reads and writes every institution.  Every other
   caller writes only into its own institution (a write through another institution's base
   is refused), reads its own institution as its role allows, and reads other institutions'
   records only inside the compartments that Consents in force (privacy/consent.py) or a
   break-the-glass window (privacy/break_glass.py) open.  A patient reads their own
   compartment in every institution.
4. A read through an institution's base (`/fhir/{code}/`) sees only rows stored there.

Consents and break-the-glass windows are never cached: they are read through the repository on
each request, so a revocation holds on the next one.  Only the list of institutions (for the
reader's Organization id) is kept for a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from yilian.auth.principal import Permission, Principal
from yilian.fhir.definitions.structures import structures
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.privacy.break_glass import active_windows, open_window
from yilian.privacy.consent import Reader, consent_grants, organization_of
from yilian.privacy.model import Access, AccessRequest
from yilian.privacy.roles import DIRECTORY_TYPES, ROLE_RULES, RoleRules, is_patient_level
from yilian.store.base import DEFAULT_PARTITION, ConsentGrant, Partition, Repository, Scope

__all__ = ["AlliancePolicy", "forbidden"]

_READS = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "history-type": "r",
    "history-system": "r",
    "search-type": "s",
    "search-system": "s",
}
_WRITES = {"create": "c", "update": "u", "patch": "u", "delete": "d"}
PARTITION_CACHE_SECONDS = 10.0
_DEIDENTIFIED = (
    "role {role} gets no identifiable patient-level data from the FHIR API without a Consent for "
    "purpose {purpose} that names the patient; use the alliance's de-identified exports instead"
)


def forbidden(message: str, where: str | None = None) -> OutcomeError:
    return OutcomeError(Outcome.FORBIDDEN, IssueType.FORBIDDEN, message, [where] if where else [])


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _all_types() -> frozenset[str]:
    return frozenset(structures().resource_types)


def _intersect(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    return a if b is None else a & b


class AlliancePolicy:
    """The alliance's access policy (see the module docstring).  `clock` is injectable so
    tests can move past a break-the-glass window."""

    def __init__(
        self,
        *,
        break_glass_minutes: int = 60,
        consent_lapse_days: int = 0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if break_glass_minutes <= 0:
            raise ValueError("break_glass_minutes must be positive")
        if consent_lapse_days < 0:
            raise ValueError("consent_lapse_days must not be negative")
        self.break_glass_minutes = break_glass_minutes
        self.consent_lapse_days = consent_lapse_days
        self.clock = clock
        self._partitions: tuple[Repository, float, tuple[Partition, ...]] | None = None

    async def access(self, repository: Repository, request: AccessRequest) -> Access:
        principal = request.principal
        rules = ROLE_RULES.get(principal.role)
        if rules is None:
            raise forbidden(f"role {principal.role!r} is not known to this alliance")
        interaction = request.interaction
        if interaction in ("capabilities", "bundle"):
            # A Bundle reads nothing itself: the router asks again for every entry.
            return Access(Scope(frozenset()), principal.institution or DEFAULT_PARTITION)
        if principal.role == "system":
            return self._system(request)
        permission, rtype = self._needs(request)
        purpose = self._purpose(principal, rules)
        if permission in ("c", "u", "d"):
            return self._write(request, rules, permission, rtype)
        return await self._read(repository, request, rules, permission, rtype, purpose)

    async def _organization(self, repository: Repository, code: str | None) -> str | None:
        """The Organization id of institution `code`.  The partitions are cached (an
        institution's Organization is fixed when it registers) and read again on a miss and
        every PARTITION_CACHE_SECONDS; Consents themselves are never cached."""
        now = time.monotonic()
        cached = self._partitions
        if (
            cached is None
            or cached[0] is not repository
            or now - cached[1] > PARTITION_CACHE_SECONDS
            or (code is not None and all(p.code != code for p in cached[2]))
        ):
            cached = (repository, now, tuple(await repository.list_partitions()))
            self._partitions = cached
        return organization_of(cached[2], code)

    # -- the pieces ---------------------------------------------------------------------------
    @staticmethod
    def _needs(request: AccessRequest) -> tuple[Permission, str]:
        """The SMART permission and resource type (`*`: every type) an interaction needs."""
        interaction = request.interaction
        if interaction in _WRITES:
            return _WRITES[interaction], request.resource_type or "*"  # type: ignore[return-value]
        if interaction in _READS:
            return _READS[interaction], request.resource_type or "*"  # type: ignore[return-value]
        if interaction == "operation":
            if request.operation == "validate":
                return "r", request.resource_type or "*"
            if request.operation == "everything":
                return "r", "Patient"
            if request.operation in ("import", "import-upload"):  # $import creates and updates any type
                return "c", "*"
            return "r", request.resource_type or "*"
        raise forbidden(f"interaction {interaction!r} is not open to role {request.principal.role}")

    @staticmethod
    def _purpose(principal: Principal, rules: RoleRules) -> str:
        """The purpose of use in force: the declared one if the role may declare it; the
        role's own when nothing (or the api's default, treatment) was declared."""
        declared = principal.purpose
        if not rules.purposes:
            return declared or "treatment"
        if declared in rules.purposes:
            return declared
        if declared in (None, "treatment"):
            return rules.purposes[0]
        raise forbidden(
            f"role {principal.role} may not declare purpose of use {declared!r} "
            f"(allowed: {', '.join(rules.purposes)})"
        )

    @staticmethod
    def _system(request: AccessRequest) -> Access:
        principal = request.principal
        if not any(s.context == "system" for s in principal.scopes):
            raise forbidden("the system role needs system/ scopes (for example system/*.cruds)")
        permission, rtype = AlliancePolicy._needs(request)
        system_scopes = [s for s in principal.scopes if s.context == "system"]
        if not any(s.covers(rtype, permission) for s in system_scopes):
            raise forbidden(f"scope system/{rtype}.{permission} is needed for {request.interaction}", "scope")
        if request.partition is None:
            return Access(Scope.everything(), DEFAULT_PARTITION)
        return Access(Scope.partition(request.partition), request.partition)

    @staticmethod
    def _covering(principal: Principal, rtype: str, permission: Permission) -> tuple[bool, bool]:
        """(covered at all, covered only by patient/ scopes)."""
        covering = [s for s in principal.scopes if s.covers(rtype, permission)]
        if not covering:
            context = "patient" if principal.role == "patient" else "user"
            raise forbidden(
                f"scope {context}/{rtype}.{permission} (or a wider one) is needed for this "
                f"request; the token grants: {' '.join(_scope_text(principal)) or 'nothing'}",
                "scope",
            )
        return True, all(s.context == "patient" for s in covering)

    @staticmethod
    def _scope_types(principal: Principal, patient_only: bool) -> frozenset[str] | None:
        """The types the token lets a read return (r or s on them); None: every type."""
        usable = [s for s in principal.scopes if not patient_only or s.context == "patient"]
        readable = [s for s in usable if {"r", "s"} & set(s.permissions)]
        if any(s.resource_type == "*" for s in readable):
            return None
        return frozenset(s.resource_type for s in readable)

    def _write(self, request: AccessRequest, rules: RoleRules, permission: Permission, rtype: str) -> Access:
        principal = request.principal
        if not rules.may_write(rtype):
            raise forbidden(f"role {principal.role} may not {request.interaction} {rtype}", rtype)
        own = principal.institution
        if own is None:
            raise forbidden("the token names no institution, so there is no partition to write into")
        if request.partition is not None and request.partition != own:
            raise forbidden(
                f"a {principal.role} of {own!r} may not write through the base of institution "
                f"{request.partition!r}; writes land in the caller's own institution"
            )
        _, patient_only = self._covering(principal, rtype, permission)
        if patient_only:
            raise forbidden(f"patient/ scopes do not allow writing {rtype} as a {principal.role}", "scope")
        return Access(Scope(frozenset({own})), own)

    async def _read(
        self,
        repository: Repository,
        request: AccessRequest,
        rules: RoleRules,
        permission: Permission,
        rtype: str,
        purpose: str,
    ) -> Access:
        principal = request.principal
        if rtype != "*" and not rules.may_read(rtype):
            raise forbidden(f"role {principal.role} may not read {rtype}", rtype)
        _, patient_only = self._covering(principal, rtype, permission)
        if principal.role == "patient":
            patient_only = True
        types = _intersect(rules.read_types(_all_types()), self._scope_types(principal, patient_only))
        named = self._named_patient(request)
        own = principal.institution
        write_to = own or DEFAULT_PARTITION
        if principal.role == "patient":
            if not principal.patient:
                raise forbidden("a patient token must name the patient (the `patient` claim)")
            scope = Scope(frozenset(), (ConsentGrant(frozenset({principal.patient})),), types)
            return Access(self._through_base(scope, request.partition), write_to)

        grants: tuple[ConsentGrant, ...] = ()
        if rules.consents:
            reader = Reader(own, await self._organization(repository, own), principal.role, purpose)
            grants = await consent_grants(
                repository, reader, self.clock(), named, lapse_days=self.consent_lapse_days
            )
        everyone, btg_grants, btg = await self._break_glass(repository, principal, rules, purpose, named)
        grants += btg_grants

        if not rules.patient_level:
            if rtype != "*" and not is_patient_level(rtype) and request.operation != "everything":
                own_rows = frozenset({own}) if own else frozenset()
                scope = Scope(own_rows, (), _intersect(types, DIRECTORY_TYPES))
                return Access(self._through_base(scope, request.partition), write_to)
            if not grants:
                raise forbidden(_DEIDENTIFIED.format(role=principal.role, purpose=purpose))
            scope = Scope(frozenset(), grants, types)
            return Access(self._through_base(scope, request.partition), write_to)

        if own is None:
            raise forbidden(f"the token names no institution for this {principal.role}")
        if patient_only:
            if not principal.patient:
                raise forbidden("patient/ scopes need a patient in context (the `patient` claim)", "scope")
            pid = frozenset({principal.patient})
            mine = ConsentGrant(pid, partitions=None if everyone else frozenset({own}))
            narrowed = tuple(replace(g, patients=g.patients & pid) for g in grants if g.patients & pid)
            scope = Scope(frozenset(), (mine, *narrowed), types)
        elif everyone:
            scope = Scope(None, (), types)
        else:
            scope = Scope(frozenset({own}), grants, types)
        return Access(self._through_base(scope, request.partition), write_to, break_glass=btg)

    @staticmethod
    def _named_patient(request: AccessRequest) -> str | None:
        """The patient a request is about, when it says: `Patient/{id}` (read, vread,
        history, `$everything`) or the SMART launch patient of a staff token."""
        if request.resource_type == "Patient" and request.resource_id:
            return request.resource_id
        if request.principal.role != "patient" and request.principal.patient:
            return request.principal.patient
        return None

    async def _break_glass(
        self, repository: Repository, principal: Principal, rules: RoleRules, purpose: str, named: str | None
    ) -> tuple[bool, tuple[ConsentGrant, ...], bool]:
        """(every patient, grants, in a window) from the caller's break-the-glass windows,
        opening one when this is an emergency request with a reason."""
        if purpose == "emergency":
            if not rules.break_glass:
                raise forbidden(f"role {principal.role} cannot break the glass")
            if not (principal.break_glass_reason or "").strip():
                raise forbidden(
                    "break-the-glass (purpose emergency) requires a reason: send X-Break-Glass-Reason"
                )
        if not rules.break_glass:
            return False, (), False
        now = self.clock()
        windows = await active_windows(repository, principal, now)
        if purpose == "emergency" and not any(w.patient in (None, named) for w in windows):
            reason = (principal.break_glass_reason or "").strip()
            windows.append(
                await open_window(repository, principal, reason, named, now, self.break_glass_minutes)
            )
        if not windows:
            return False, (), False
        if any(w.patient is None for w in windows):
            return True, (), True
        return False, (ConsentGrant(frozenset(w.patient for w in windows if w.patient)),), True

    @staticmethod
    def _through_base(scope: Scope, partition: str | None) -> Scope:
        """A read through `/fhir/{partition}/` sees only rows stored in that institution."""
        if partition is None:
            return scope
        only = frozenset({partition})
        rows = only if scope.partitions is None else scope.partitions & only
        grants = tuple(
            replace(g, partitions=only if g.partitions is None else g.partitions & only) for g in scope.grants
        )
        return Scope(rows, grants, scope.types)


def _scope_text(principal: Principal) -> list[str]:
    perms = "cruds"
    return [
        f"{s.context}/{s.resource_type}.{''.join(p for p in perms if p in s.permissions)}"
        for s in principal.scopes
    ]
