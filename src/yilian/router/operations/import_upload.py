"""`$import-upload`: a client's own files staged on the server as `$import` inputs.

`POST [base]/$import-upload?name=Patient.ndjson` (body: the first chunk, possibly empty)
creates an upload and answers `201` with `Location: [base]/$import-upload?_uploadId=ID`;
`POST` to that URL with `&offset=N` appends the next chunk (N: the bytes sent before it).
Each chunk is one request body, so the server's body limit bounds it and a file of any size
goes through in chunks; the bytes are stored as sent (bulk/uploads.py).  The upload's URL is
then an `input` url of `$import` (operations/import_.py).  The access policy decides an
upload as it decides `$import` itself (create on every type), and the audit trail records
each chunk like any other request.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from yilian.auth.principal import Principal
from yilian.bulk.uploads import UPLOAD_OPERATION, StagedUpload
from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.router.context import Context
from yilian.router.operations.export import job_manager
from yilian.router.result import Result
from yilian.router.routes import Route

__all__ = ["import_upload", "upload_id_of"]

UPLOAD_ID = "_uploadId"


def upload_id_of(url: str, base_url: str) -> str | None:
    """The upload a `$import` input url names, when it is an upload URL of this server (the
    host the kick-off came to, any base); None for any other url."""
    given, here = urlsplit(url), urlsplit(base_url)
    if (given.scheme, given.netloc) != (here.scheme, here.netloc):
        return None
    if not given.path.endswith(f"/${UPLOAD_OPERATION}"):
        return None
    ids = [v for k, v in parse_qsl(given.query) if k == UPLOAD_ID]
    return ids[0] if len(ids) == 1 else None


async def import_upload(ctx: Context, route: Route) -> Result:
    if route.resource_type is not None:
        raise OutcomeError(
            Outcome.NOT_FOUND, IssueType.NOT_SUPPORTED, f"${UPLOAD_OPERATION} is a system-level operation"
        )
    if ctx.request.method.upper() != "POST":
        raise OutcomeError(
            Outcome.METHOD_NOT_ALLOWED, IssueType.NOT_SUPPORTED, f"${UPLOAD_OPERATION} is POST"
        )
    uploads = job_manager(ctx).uploads
    owner = (ctx.request.principal or Principal.development()).subject
    body = ctx.request.body
    chunk = body if isinstance(body, bytes) else b""
    query = dict(ctx.request.query)
    upload_id = query.get(UPLOAD_ID)
    if upload_id is None:
        created = uploads.create(owner, query.get("name", ""))
        upload = uploads.append(created.id, owner, 0, chunk) if chunk else created
        url = _url(ctx, upload.id)
        return Result(Outcome.CREATED, body=_state(upload, url), headers={"Location": url})
    offset = query.get("offset", "")
    if not offset.isdigit():
        raise OutcomeError.invalid(
            "a chunk names where it starts: &offset=<bytes sent before it>", ["offset"]
        )
    upload = uploads.append(upload_id, owner, int(offset), chunk)
    return Result(Outcome.OK, body=_state(upload, _url(ctx, upload.id)))


def _url(ctx: Context, upload_id: str) -> str:
    return f"{ctx.base_url}/${UPLOAD_OPERATION}?{UPLOAD_ID}={upload_id}"


def _state(upload: StagedUpload, url: str) -> dict[str, object]:
    return {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUrl": url},
            {"name": "size", "valueDecimal": upload.size},  # may pass 2^31
        ],
    }
