"""Authentication: who is calling.  Bearer JWTs from configured issuers, SMART on FHIR scopes,
and the development issuer behind `yilian token`.  Produces a `Principal`; deciding what the
principal may see is `yilian.privacy`'s job."""

from yilian.auth.principal import ROLES, Principal, Role, SmartScope

__all__ = ["ROLES", "Principal", "Role", "SmartScope"]
