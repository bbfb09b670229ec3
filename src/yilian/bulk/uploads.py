"""Staged `$import` inputs: files a client sends to the server, chunk by chunk, before kick-off.

A client whose NDJSON files are on its own machine cannot name them by `file://` URL; it
creates an upload (`POST [base]/$import-upload?name=Patient.ndjson`), appends the file to it in
chunks no larger than the server's body limit (`...?_uploadId=ID&offset=N`), and names the
upload's URL as an `input` of `$import`.  The bytes are kept as sent, so the import reads the
same lines, with the same line numbers, as from the client's file, and the import's semantics
(ids kept, re-runs change nothing, refused lines reported) are those of any other input.

An upload belongs to the token subject that created it: only that caller appends to it or
imports it.  A chunk names the offset it starts at, so a retried chunk is refused (409) rather
than written twice; a chunk that fails halfway is cut off again.  The job that imports an
upload takes its file (moved into the job's folder, removed with it); uploads never imported
are removed `max_age` seconds after they were last written to.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError

__all__ = ["UPLOAD_OPERATION", "StagedUpload", "UploadStore"]

UPLOAD_OPERATION = "import-upload"
_ID = re.compile(r"[0-9a-f]{32}")
_SUFFIXES = (".ndjson.gz", ".jsonl.gz", ".json.gz", ".ndjson", ".jsonl", ".json")
_DATA = "data"
_OWNER = "owner.json"
_MAX_NAME = 1000


@dataclass(frozen=True, slots=True)
class StagedUpload:
    id: str
    path: Path  # the bytes received so far, named with the client's suffix
    size: int
    name: str  # the client's name for the file, which problems in it are reported under


class UploadStore:
    """Uploads under `directory` (one folder each), shared by every worker on the machine."""

    def __init__(self, directory: Path, *, max_age: float = 24 * 3600.0) -> None:
        self.directory = Path(directory)
        self.max_age = max_age

    def create(self, owner: str, name: str) -> StagedUpload:
        """A new, empty upload for a file called `name` (its suffix says NDJSON or Bundle JSON,
        gzipped or not; the import reports its problems under this name, as `yilian import
        --db` would under the file's path)."""
        suffix = next((s for s in _SUFFIXES if name.lower().endswith(s)), None)
        if suffix is None:
            raise OutcomeError.invalid(
                f"upload name {name!r}: the file must end in .ndjson, .jsonl or .json (optionally .gz)",
                ["name"],
            )
        self._expire()
        upload_id = uuid.uuid4().hex
        folder = self.directory / upload_id
        folder.mkdir(parents=True)
        name = name[-_MAX_NAME:]
        (folder / _OWNER).write_bytes(orjson.dumps({"owner": owner, "suffix": suffix, "name": name}))
        path = folder / f"{_DATA}{suffix}"
        path.touch()
        return StagedUpload(upload_id, path, 0, name)

    def get(self, upload_id: str, owner: str) -> StagedUpload:
        """The caller's upload; anyone else's, like an unknown id, is a 404."""
        folder = self.directory / upload_id
        try:
            if not _ID.fullmatch(upload_id):
                raise FileNotFoundError(upload_id)
            meta = orjson.loads((folder / _OWNER).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            raise OutcomeError.not_found(f"no upload {upload_id!r}") from None
        if meta.get("owner") != owner:
            raise OutcomeError.not_found(f"no upload {upload_id!r}")
        path = folder / f"{_DATA}{meta['suffix']}"
        if not path.is_file():
            raise OutcomeError.not_found(f"no upload {upload_id!r}")
        return StagedUpload(upload_id, path, path.stat().st_size, str(meta.get("name", upload_id)))

    def append(self, upload_id: str, owner: str, offset: int, chunk: bytes) -> StagedUpload:
        """Add `chunk` at `offset`, which must be the upload's size (409 otherwise)."""
        upload = self.get(upload_id, owner)
        if offset != upload.size:
            raise OutcomeError(
                Outcome.CONFLICT,
                IssueType.CONFLICT,
                f"upload {upload_id} holds {upload.size} bytes; a chunk at {offset} does not follow them",
            )
        with upload.path.open("r+b") as out:
            out.seek(offset)
            try:
                out.write(chunk)
                out.flush()
            except BaseException:
                out.truncate(offset)
                raise
        return StagedUpload(upload_id, upload.path, offset + len(chunk), upload.name)

    def take(self, upload_id: str, owner: str, target: Path) -> StagedUpload:
        """Move the upload's file to `target` (its suffix appended); the upload is gone."""
        upload = self.get(upload_id, owner)
        moved = target.with_name(target.name + "".join(upload.path.suffixes))
        moved.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(upload.path), moved)
        shutil.rmtree(upload.path.parent, ignore_errors=True)
        return StagedUpload(upload_id, moved, upload.size, upload.name)

    def _expire(self) -> None:
        if not self.directory.is_dir():
            return
        cutoff = time.time() - self.max_age
        for folder in self.directory.iterdir():
            with contextlib.suppress(OSError):
                newest = max((p.stat().st_mtime for p in folder.iterdir()), default=folder.stat().st_mtime)
                if newest < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
