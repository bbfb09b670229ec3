"""Signing checkpoints of the audit chain and verifying the whole chain.

Checkpoints are signed with HMAC-SHA256 under the deployment's audit key
(`audit_signing_key`): the signature covers `seq` and `hash`, so an attacker with write access
to the database who alters an entry and recomputes every later hash (the chain alone would then
verify) still cannot produce the checkpoint that seals those entries.  HMAC rather than Ed25519
because the verifier (`yilian audit verify`) runs on the same trusted side as the writer;
whoever can verify can also sign, which is acceptable for a server-side key and keeps the key
a plain secret string in configuration.

`verify_chain` walks the log in seq order and names the FIRST entry that is wrong:
* a missing seq (a deleted row): "removed";
* a prev_hash that is not the previous entry's hash (rows swapped or inserted): "reordered";
* a hash that is not SHA-256(prev_hash || canonical JSON) (a changed event or column): "altered";
* a checkpoint with a bad signature ("forged"), or over a hash the entry no longer has (the log
  was rewritten with recomputed hashes somewhere up to that checkpoint) or over a missing entry
  (the log was truncated).
A checkpoint names the key that signed it (`key_id`, which reveals nothing of the key), so
verifying with the wrong key says so instead of calling every checkpoint forged; the hashes,
which need no key, are checked all the same.  Checkpoints written before key ids name none;
for them a wrong key still cannot be told from a forgery.
Entries appended after the last checkpoint and then deleted together with the head's update
cannot be told from entries never written.  The audit trail bounds that window: it signs a
checkpoint at least every `audit_checkpoint_seconds` while entries it wrote are unsealed, and
closing it checkpoints the head, so a clean shutdown seals everything written.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from yilian.store.audit_log import GENESIS_HASH, AuditCheckpoint, AuditLink, entry_hash
from yilian.store.base import Repository

__all__ = ["VerifyReport", "key_id", "sign_checkpoint", "signature_of", "split_signature", "verify_chain"]

_PAGE = 2000


def signature_of(key: bytes, seq: int, hash: str) -> str:
    """HMAC-SHA256 over `yilian-audit-checkpoint/seq/hash`, hex."""
    message = f"yilian-audit-checkpoint/{seq}/{hash}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A name for an audit key that reveals nothing of it: the first 8 bytes, hex, of
    SHA-256 over `yilian-audit-key-id/` and the key."""
    return hashlib.sha256(b"yilian-audit-key-id/" + key).hexdigest()[:16]


def split_signature(stored: str) -> tuple[str | None, str]:
    """A stored checkpoint signature as (key id, HMAC); the key id is None for a checkpoint
    written before checkpoints named their key (the HMAC alone)."""
    kid, sep, mac = stored.partition(":")
    return (kid, mac) if sep else (None, stored)


def sign_checkpoint(key: bytes, link: AuditLink) -> AuditCheckpoint:
    """A checkpoint over `link`; its signature is `key id:HMAC` (see `split_signature`)."""
    created = datetime.now(UTC).isoformat(timespec="microseconds")
    signature = f"{key_id(key)}:{signature_of(key, link.seq, link.hash)}"
    return AuditCheckpoint(link.seq, link.hash, signature, created)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of a verification.  `first_bad_seq` is the first entry found altered,
    removed or reordered (None when the chain is intact) and `problem` says what is wrong.
    `other_key` is the first checkpoint signed with a key other than the one given, as (seq,
    key id): its signature could not be checked, which is not evidence of tampering."""

    entries: int
    head_seq: int
    checkpoints: int
    signatures_checked: bool
    first_bad_seq: int | None = None
    problem: str = ""
    key_id: str = ""
    other_key: tuple[int, str] | None = None

    @property
    def ok(self) -> bool:
        return not self.tampered and self.other_key is None

    @property
    def tampered(self) -> bool:
        return self.first_bad_seq is not None

    @property
    def wrong_key(self) -> bool:
        """Nothing was found altered, but checkpoints were signed with another key."""
        return not self.tampered and self.other_key is not None

    def summary(self) -> str:
        if self.tampered:
            return f"audit chain BROKEN at seq {self.first_bad_seq}: {self.problem}"
        if self.other_key is not None:
            seq, other = self.other_key
            return (
                f"WRONG KEY: checkpoint {seq} was signed with key {other}, not with the key given "
                f"({self.key_id}): use the key that signed the chain.  The hashes of all {self.entries} "
                "entries are intact; if the given key is the only one this server ever signed with, "
                "the checkpoint was forged"
            )
        signed = (
            f"signatures checked (key {self.key_id})"
            if self.signatures_checked
            else "signatures NOT checked (no key)"
        )
        return (
            f"audit chain intact: {self.entries} entries (head seq {self.head_seq}), "
            f"{self.checkpoints} checkpoints, {signed}"
        )


async def verify_chain(repository: Repository, signing_key: bytes | None) -> VerifyReport:
    """Recompute every hash in seq order and check every checkpoint (see the module docstring).
    With no key, checkpoint hashes are still compared but their signatures are not checked."""
    checkpoints = await repository.audit_checkpoints()
    sealed = {c.seq: c for c in checkpoints}
    seen_hash: dict[int, str] = {}
    problems: list[tuple[int, str]] = []
    expected, prev, count = 1, GENESIS_HASH, 0
    broken = False
    after = 0
    while not broken:
        page = await repository.audit_entries(after, _PAGE)
        if not page:
            break
        for logged in page:
            seq = logged.seq
            if seq != expected:
                problems.append((expected, f"entry {expected} was removed (the next stored entry is {seq})"))
                broken = True
                break
            if logged.prev_hash != prev:
                problems.append(
                    (
                        seq,
                        f"entry {seq} does not follow entry {seq - 1} (its prev_hash differs): reordered",
                    )
                )
                broken = True
                break
            try:
                recomputed = entry_hash(prev, seq, logged.entry)
            except (orjson.JSONDecodeError, ValueError):
                recomputed = ""
            if recomputed != logged.hash:
                problems.append((seq, f"entry {seq} was altered (its content does not match its hash)"))
                broken = True
                break
            if seq in sealed:
                seen_hash[seq] = logged.hash
            prev, expected, count = logged.hash, expected + 1, count + 1
        after = page[-1].seq
    last_good = expected - 1
    head = await repository.audit_head()
    if not broken and (head.seq, head.hash) != (last_good, prev):
        if head.seq > last_good:
            problems.append(
                (last_good + 1, f"entries {last_good + 1}..{head.seq} were removed (the head is {head.seq})")
            )
        elif head.seq < last_good:
            problems.append((head.seq + 1, f"entries after the head ({head.seq}) were added outside the log"))
        else:
            problems.append((head.seq, f"the chain head's hash differs from entry {head.seq}'s"))
    given = key_id(signing_key) if signing_key is not None else ""
    other_key: tuple[int, str] | None = None
    for checkpoint in checkpoints:
        signed_by, mac = split_signature(checkpoint.signature)
        if signing_key is not None:
            valid = hmac.compare_digest(mac, signature_of(signing_key, checkpoint.seq, checkpoint.hash))
            if not valid and signed_by is not None and signed_by != given:
                other_key = other_key or (checkpoint.seq, signed_by)
            elif not valid:
                problems.append((checkpoint.seq, _forged(checkpoint.seq, signed_by)))
                continue
            elif signed_by is not None and signed_by != given:
                problems.append(
                    (checkpoint.seq, f"checkpoint at entry {checkpoint.seq}: its key id was altered")
                )
        if checkpoint.seq > last_good and not broken:
            gone = f"entries {last_good + 1}..{checkpoint.seq}, sealed by a checkpoint, were removed"
            problems.append((last_good + 1, gone))
        elif checkpoint.seq in seen_hash and seen_hash[checkpoint.seq] != checkpoint.hash:
            earlier = [c.seq for c in checkpoints if c.seq < checkpoint.seq]
            since = (max(earlier) + 1) if earlier else 1
            problems.append(
                (
                    checkpoint.seq,
                    f"entry {checkpoint.seq} differs from its signed checkpoint: "
                    f"entries {since}..{checkpoint.seq} were rewritten with recomputed hashes",
                )
            )
    first = min(problems, default=None)
    return VerifyReport(
        entries=count,
        head_seq=head.seq,
        checkpoints=len(checkpoints),
        signatures_checked=signing_key is not None,
        first_bad_seq=first[0] if first else None,
        problem=first[1] if first else "",
        key_id=given,
        other_key=other_key,
    )


def _forged(seq: int, signed_by: str | None) -> str:
    if signed_by is None:
        return (
            f"checkpoint at entry {seq} has a forged signature (or was signed with another key: "
            "it predates key ids, so the key that signed it is unknown)"
        )
    return (
        f"checkpoint at entry {seq} has a forged signature: it names the key given ({signed_by}) "
        "but does not match its entries"
    )
