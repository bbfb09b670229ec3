"""Who may see what: access policy, consent decisions, the audit chain, encryption of sensitive
identifiers.  These wrap interactions (router guards) rather than living inside them."""

from yilian.privacy.model import Access, AccessPolicy, AccessRecord, AccessRequest, AuditSink

__all__ = ["Access", "AccessPolicy", "AccessRecord", "AccessRequest", "AuditSink"]
