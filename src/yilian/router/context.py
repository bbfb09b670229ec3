"""What every interaction needs besides its session: the request, its access and settings."""

from __future__ import annotations

from dataclasses import dataclass

from yilian.privacy.model import Access
from yilian.router.settings import RouterSettings
from yilian.router.types import FhirRequest

__all__ = ["Context"]


@dataclass(frozen=True, slots=True)
class Context:
    request: FhirRequest
    access: Access
    settings: RouterSettings

    @property
    def base_url(self) -> str:
        return self.request.base_url.rstrip("/")

    def full_url(self, resource_type: str, id: str) -> str:
        """`entry.fullUrl` of a resource on this base (http://hl7.org/fhir/R4/bundle.html#bundle-unique)."""
        return f"{self.base_url}/{resource_type}/{id}" if self.base_url else f"{resource_type}/{id}"

    def with_request(self, request: FhirRequest) -> Context:
        """The same access and settings for another request (a batch/transaction entry)."""
        return Context(request, self.access, self.settings)
