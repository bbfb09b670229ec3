"""Who may read the HL7 feed log in the console, in one place.

The feed log is operational data outside FHIR, so no `AlliancePolicy` search decides it: an
institution's staff see the messages stored into their institution, alliance-level staff
(no institution on the token) every message, and patients, researchers and insurers none.
The dashboard's feed panel and the interfaces pages both ask `feed_scope`.
"""

from __future__ import annotations

from dataclasses import dataclass

from yilian.auth.principal import Principal
from yilian.store.feed_log import FeedMessage

__all__ = ["FeedScope", "feed_scope"]

_NO_FEED_ROLES = frozenset({"patient", "researcher", "insurance"})


@dataclass(frozen=True, slots=True)
class FeedScope:
    """`visible`: whether the user may read the feed log at all; `institution`: the one
    institution whose messages they see (None with `visible`: every message)."""

    visible: bool
    institution: str | None

    def allows(self, message: FeedMessage) -> bool:
        """Whether one message is within the scope (a message page opened by its id)."""
        return self.visible and (self.institution is None or message.institution == self.institution)


def feed_scope(principal: Principal | None) -> FeedScope:
    """The part of the feed log `principal` may read (see the module docstring)."""
    if principal is None or principal.role in _NO_FEED_ROLES:
        return FeedScope(False, None)
    return FeedScope(True, principal.institution)
