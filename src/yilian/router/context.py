"""What every interaction needs besides its session: the request, its access and settings,
and the guards a Bundle's entries pass through one by one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from yilian.privacy.model import Access
from yilian.router.routes import Route
from yilian.router.settings import RouterSettings
from yilian.router.types import FhirRequest

__all__ = ["Context", "EntryGuard"]


class EntryGuard(Protocol):
    """The router's guards for the entries of one batch or transaction Bundle
    (http://hl7.org/fhir/R4/http.html#transaction): each entry is asked of the same access
    policy and heard by the same audit sink as a request of its own, so a Bundle can neither
    widen what its sender may do nor hide what it did.  The interactions never test a role."""

    async def admit(self, request: FhirRequest, route: Route) -> Access:
        """The entry's `Access`, or the policy's refusal (already audited) raised."""
        ...

    async def record(
        self,
        request: FhirRequest,
        route: Route,
        access: Access,
        outcome: int,
        body: dict[str, Any] | None = None,
        *,
        detail: str = "",
    ) -> None:
        """Audit what an admitted entry did: its status, and the resource(s) in `body`."""
        ...


@dataclass(frozen=True, slots=True)
class Context:
    request: FhirRequest
    access: Access
    settings: RouterSettings
    guard: EntryGuard

    @property
    def base_url(self) -> str:
        return self.request.base_url.rstrip("/")

    def full_url(self, resource_type: str, id: str) -> str:
        """`entry.fullUrl` of a resource on this base (http://hl7.org/fhir/R4/bundle.html#bundle-unique)."""
        return f"{self.base_url}/{resource_type}/{id}" if self.base_url else f"{resource_type}/{id}"

    def for_entry(self, request: FhirRequest, access: Access) -> Context:
        """The context a batch/transaction entry runs in: its own request and the access the
        policy gave that entry (never the Bundle's)."""
        return Context(request, access, self.settings, self.guard)
