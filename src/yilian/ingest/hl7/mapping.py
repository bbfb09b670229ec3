"""`to_bundle`: one parsed message -> one FHIR R4 transaction Bundle.

The message type picks the mapper (adt, results, orders, scheduling, documents); each adds
its entries to a `TransactionBuilder`.  Whatever goes wrong inside a mapper on valid-looking
input is a bug of ours, not of the sender, but the sender still gets an answer: it becomes
an Hl7Error AE 207 (application internal error) instead of an exception that would leave
the message unacknowledged.
"""

from __future__ import annotations

from collections.abc import Callable

from yilian.ingest.hl7.adt import map_adt
from yilian.ingest.hl7.builder import TransactionBuilder
from yilian.ingest.hl7.context import Mapped, MappingContext, MappingOptions
from yilian.ingest.hl7.documents import map_documents
from yilian.ingest.hl7.errors import APPLICATION_INTERNAL_ERROR, Hl7Error
from yilian.ingest.hl7.message import Hl7Message
from yilian.ingest.hl7.orders import map_orders
from yilian.ingest.hl7.results import map_results
from yilian.ingest.hl7.scheduling import map_scheduling

__all__ = ["to_bundle"]

_MAPPERS: dict[str, Callable[[Hl7Message, MappingContext, TransactionBuilder], None]] = {
    "ADT": map_adt,
    "ORU": map_results,
    "ORM": map_orders,
    "OML": map_orders,
    "SIU": map_scheduling,
    "MDM": map_documents,
}

_DEFAULT_OPTIONS = MappingOptions()


def to_bundle(message: Hl7Message, institution: str, options: MappingOptions = _DEFAULT_OPTIONS) -> Mapped:
    """The transaction Bundle of `message` for the institution (partition) `institution`.

    Raises Hl7Error AE when a field the mapping needs is missing or malformed (naming it)."""
    header = message.header
    ctx = MappingContext(institution, options, header)
    mapper = _MAPPERS.get(header.message_code)
    if mapper is None:  # parse() rejects these already; a hand-made Hl7Message may not have
        raise Hl7Error.reject("200", f"message type {header.message_code} is not supported", "MSH-9")
    out = TransactionBuilder()
    try:
        mapper(message, ctx, out)
    except Hl7Error as error:
        raise error.with_header(header) from None
    except Exception as exc:  # a bug of ours must still be answered (see the module docstring)
        raise Hl7Error.content(
            APPLICATION_INTERNAL_ERROR, f"the message could not be mapped: {type(exc).__name__}: {exc}"
        ).with_header(header) from exc
    summary = f"{header.message_type}: {', '.join(out.resource_types())}"
    return Mapped(out.bundle(), summary, tuple(ctx.warnings))
