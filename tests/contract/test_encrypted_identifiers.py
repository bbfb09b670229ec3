"""Resident IDs and mobile numbers encrypted at rest, searchable by keyed hash, on both backends.

Every check of "not stored in plaintext" reads the database by direct SQL, every table, every
column, so a leak through any path (history, an index table, a table added later) fails it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from yilian.fhir.outcome import IssueType, Outcome, OutcomeError
from yilian.fhir.search.parse import parse_search
from yilian.privacy.encryption import RESIDENT_ID_SYSTEM, IdentifierCodec
from yilian.privacy.keyring import Keyring
from yilian.store.base import DEFAULT_PARTITION, HistoryRequest, Repository, Scope
from yilian.store.codec import KeyConfigurationError
from yilian.store.factory import open_repository
from yilian.store.sql.repository import SqlRepository

pytestmark = pytest.mark.anyio

ALL = Scope.everything()
RESIDENT_ID = "330127198803154417"
MOBILE = "13912345678"
SPOUSE_MOBILE = "13698765432"
K1, K2, H1, H2 = (bytes([n]) * 32 for n in (1, 2, 3, 4))


def codec(*keys: tuple[str, bytes], hmac_key: bytes = H1) -> IdentifierCodec:
    return IdentifierCodec(Keyring(tuple(keys), hmac_key))


def patient(family: str = "Wang") -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": RESIDENT_ID_SYSTEM, "value": RESIDENT_ID},
            {"system": "urn:yilian:mrn:qx", "value": "000123"},
        ],
        "name": [{"family": family}],
        "telecom": [
            {"system": "phone", "value": MOBILE, "use": "mobile"},
            {"system": "email", "value": "wang@example.cn"},
        ],
        "contact": [{"telecom": [{"system": "sms", "value": SPOUSE_MOBILE}]}],
    }


async def opened(url: str, **options: object) -> SqlRepository:
    repo = open_repository(url, **options)
    assert isinstance(repo, SqlRepository)
    await repo.open()
    return repo


@pytest.fixture
async def enc_repo(store_url: str) -> AsyncIterator[SqlRepository]:
    repo = await opened(store_url, codec=codec(("k1", K1)))
    try:
        yield repo
    finally:
        await repo.close()


async def load(repo: Repository) -> None:
    async with repo.transaction() as s:
        await s.create(patient("Wang"), DEFAULT_PARTITION, id="p1")
        await s.create(
            {"resourceType": "Encounter", "status": "finished", "subject": {"reference": "Patient/p1"}},
            DEFAULT_PARTITION,
            id="e1",
        )
    async with repo.transaction() as s:
        await s.update({**patient("Wang Wei"), "id": "p1"}, DEFAULT_PARTITION, scope=ALL)


def database_text(url: str) -> str:
    """Every value of every row of every table, as text (test-side direct SQL)."""
    parts: list[str] = []
    if url.startswith("sqlite:"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    parts += [v.decode() if isinstance(v, bytes) else str(v) for v in row]
        return "\n".join(parts)
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"').fetchall():
                parts += [bytes(v).decode() if isinstance(v, bytes | memoryview) else str(v) for v in row]
    return "\n".join(parts)


def execute(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    if url.startswith("sqlite:"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(sql, params).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        cur = conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def stored_content(url: str, table: str = "resource") -> list[str]:
    where = "" if table == "resource" else " JOIN resource r ON r.rid = t.rid"
    rows = execute(url, f"SELECT t.content FROM {table} t{where}")
    return [bytes(r[0]).decode() if not isinstance(r[0], str) else r[0] for r in rows]


def protected(resource: dict[str, object]) -> tuple[object, object, object]:
    ident = resource["identifier"][0]["value"]  # type: ignore[index]
    phone = resource["telecom"][0]["value"]  # type: ignore[index]
    contact = resource["contact"][0]["telecom"][0]["value"]  # type: ignore[index]
    return ident, phone, contact


async def found(repo: Repository, resource_type: str, *params: tuple[str, str]) -> set[str]:
    request = parse_search([resource_type], list(params))
    async with repo.transaction(read_only=True) as s:
        result = await s.search(request, ALL)
    return {m.id for m in result.matches}


async def test_no_plaintext_anywhere_in_the_database(enc_repo: SqlRepository, store_url: str) -> None:
    await load(enc_repo)
    text = database_text(store_url)
    for secret in (RESIDENT_ID, MOBILE, SPOUSE_MOBILE):
        assert secret not in text
    assert "000123" in text and "wang@example.cn" in text  # other values are stored as they are
    contents = stored_content(store_url) + stored_content(store_url, "resource_history")
    patients = [c for c in contents if '"Patient"' in c]
    assert len(patients) == 3 and all(c.count("enc:v1:k1:") == 3 for c in patients)
    assert all(
        "hmac:" in str(r[0]) for r in execute(store_url, "SELECT code FROM idx_token WHERE param = 'phone'")
    )


async def test_every_read_path_returns_plaintext(enc_repo: SqlRepository) -> None:
    await load(enc_repo)
    expected = (RESIDENT_ID, MOBILE, SPOUSE_MOBILE)
    async with enc_repo.transaction(read_only=True) as s:
        assert protected((await s.read("Patient", "p1", ALL)).json()) == expected
        assert protected((await s.vread("Patient", "p1", 1, ALL)).json()) == expected
        history = await s.history(HistoryRequest("Patient", "p1"), ALL)
        assert [protected(v.json()) for v in history.entries] == [expected, expected]
        included = await s.search(parse_search(["Encounter"], [("_include", "Encounter:subject")]), ALL)
        assert [protected(r.json()) for r in included.included] == [expected]
        rev = await s.search(parse_search(["Patient"], [("_revinclude", "Encounter:subject")]), ALL)
        assert [protected(r.json()) for r in rev.matches] == [expected]


async def test_create_and_update_answer_in_plaintext(enc_repo: SqlRepository) -> None:
    async with enc_repo.transaction() as s:
        created = await s.create(patient(), DEFAULT_PARTITION, id="p9")
        updated, _ = await s.update({**patient("Li"), "id": "p9"}, DEFAULT_PARTITION, scope=ALL)
    assert protected(created.json()) == protected(updated.json()) == (RESIDENT_ID, MOBILE, SPOUSE_MOBILE)


async def test_exact_searches_find_protected_values(enc_repo: SqlRepository) -> None:
    await load(enc_repo)
    assert await found(enc_repo, "Patient", ("identifier", f"{RESIDENT_ID_SYSTEM}|{RESIDENT_ID}")) == {"p1"}
    assert await found(enc_repo, "Patient", ("identifier", RESIDENT_ID)) == {"p1"}
    assert await found(enc_repo, "Patient", ("phone", MOBILE)) == {"p1"}
    assert await found(enc_repo, "Patient", ("telecom", MOBILE)) == {"p1"}
    assert await found(enc_repo, "Patient", ("identifier", "urn:yilian:mrn:qx|000123")) == {"p1"}
    assert await found(enc_repo, "Encounter", ("subject:Patient.identifier", RESIDENT_ID)) == {"e1"}
    assert await found(enc_repo, "Patient", ("_has:Encounter:subject:status", "finished")) == {"p1"}


async def test_wrong_values_find_nothing(enc_repo: SqlRepository) -> None:
    await load(enc_repo)
    assert (
        await found(enc_repo, "Patient", ("identifier", f"{RESIDENT_ID_SYSTEM}|330127198803154418")) == set()
    )
    assert await found(enc_repo, "Patient", ("identifier", f"urn:other|{RESIDENT_ID}")) == set()
    assert await found(enc_repo, "Patient", ("phone", "13912345679")) == set()
    assert (
        await found(enc_repo, "Patient", ("phone", SPOUSE_MOBILE)) == set()
    )  # a contact's number is no phone
    assert (
        await found(enc_repo, "Patient", ("identifier:not", f"{RESIDENT_ID_SYSTEM}|{RESIDENT_ID}")) == set()
    )


async def test_tampered_ciphertext_is_refused_with_an_exception_outcome(
    enc_repo: SqlRepository, store_url: str
) -> None:
    await load(enc_repo)
    content = next(c for c in stored_content(store_url) if '"Patient"' in c)
    envelope = content.split('"value":"enc:v1:k1:', 1)[1].split('"', 1)[0]
    flipped = ("A" if envelope[5] != "A" else "B").join((envelope[:5], envelope[6:]))
    tampered = content.replace(envelope, flipped)
    param = tampered.encode() if store_url.startswith("postgres") else tampered
    execute(store_url, "UPDATE resource SET content = ? WHERE res_id = 'p1'", (param,))
    with pytest.raises(OutcomeError) as err:
        async with enc_repo.transaction(read_only=True) as s:
            await s.read("Patient", "p1", ALL)
    assert err.value.kind is Outcome.SERVER_ERROR
    assert err.value.issues[0].code is IssueType.EXCEPTION
    assert "Patient/p1 identifier[0].value" in err.value.issues[0].diagnostics
    async with enc_repo.transaction(read_only=True) as s:  # the old version is intact
        assert protected((await s.vread("Patient", "p1", 1, ALL)).json())[0] == RESIDENT_ID


async def test_a_ciphertext_moved_to_another_element_does_not_decrypt(
    enc_repo: SqlRepository, store_url: str
) -> None:
    await load(enc_repo)
    content = next(c for c in stored_content(store_url) if '"Patient"' in c)
    body = orjson.loads(content)
    body["telecom"][0]["value"] = body["identifier"][0]["value"]
    moved = orjson.dumps(body).decode()
    param = moved.encode() if store_url.startswith("postgres") else moved
    execute(store_url, "UPDATE resource SET content = ? WHERE res_id = 'p1'", (param,))
    with pytest.raises(OutcomeError, match=r"telecom\[0\]\.value"):
        async with enc_repo.transaction(read_only=True) as s:
            await s.read("Patient", "p1", ALL)


async def test_rotation_moves_every_value_to_the_new_key(enc_repo: SqlRepository, store_url: str) -> None:
    await load(enc_repo)
    await enc_repo.close()
    rotating = await opened(store_url, codec=codec(("k2", K2), ("k1", K1)))
    try:
        first = await rotating.recode(batch_size=1)
        assert (first.current_rewritten, first.history_rewritten, first.retired) == (1, 2, ("k1",))
        again = await rotating.recode()
        assert (again.current_rewritten, again.history_rewritten) == (0, 0)  # idempotent
    finally:
        await rotating.close()
    contents = stored_content(store_url) + stored_content(store_url, "resource_history")
    assert "enc:v1:k1:" not in "".join(contents)
    assert sum(c.count("enc:v1:k2:") for c in contents) == 9
    after = await opened(store_url, codec=codec(("k2", K2)))  # the old key is gone from config
    try:
        async with after.transaction(read_only=True) as s:
            assert protected((await s.vread("Patient", "p1", 1, ALL)).json())[0] == RESIDENT_ID
        assert await found(after, "Patient", ("phone", MOBILE)) == {"p1"}
    finally:
        await after.close()


async def test_a_key_still_in_use_must_be_configured(enc_repo: SqlRepository, store_url: str) -> None:
    await load(enc_repo)
    await enc_repo.close()
    with pytest.raises(KeyConfigurationError, match="k1"):
        await opened(store_url, codec=codec(("k2", K2)))
    with pytest.raises(KeyConfigurationError, match="no encryption keys are configured"):
        await opened(store_url)


async def test_hmac_rotation_keeps_searches_working(enc_repo: SqlRepository, store_url: str) -> None:
    await load(enc_repo)
    await enc_repo.close()
    new = codec(("k1", K1), hmac_key=H2)
    with pytest.raises(KeyConfigurationError, match="rotate --hmac"):
        await opened(store_url, codec=new)
    rotating = await opened(store_url, codec=new, check_keys=False)
    try:
        report = await rotating.recode(reindex=True)
        assert report.reindexed == 1 and report.retired == (codec(("k1", K1)).keyring.hmac_id,)
    finally:
        await rotating.close()
    after = await opened(store_url, codec=new)
    try:
        assert await found(after, "Patient", ("identifier", f"{RESIDENT_ID_SYSTEM}|{RESIDENT_ID}")) == {"p1"}
        assert await found(after, "Patient", ("phone", MOBILE)) == {"p1"}
    finally:
        await after.close()


async def test_plaintext_data_stays_readable_and_rotation_encrypts_it(store_url: str) -> None:
    plain = await opened(store_url)
    try:
        await load(plain)
    finally:
        await plain.close()
    assert RESIDENT_ID in database_text(store_url)
    keyed = await opened(store_url, codec=codec(("k1", K1)))
    try:
        assert await found(keyed, "Patient", ("phone", MOBILE)) == {"p1"}  # the plain row still matches
        assert await found(keyed, "Patient", ("identifier", RESIDENT_ID)) == {"p1"}
        report = await keyed.recode()
        assert (report.current_rewritten, report.history_rewritten) == (1, 2)
        assert await found(keyed, "Patient", ("identifier", f"{RESIDENT_ID_SYSTEM}|{RESIDENT_ID}")) == {"p1"}
        async with keyed.transaction(read_only=True) as s:
            assert protected((await s.read("Patient", "p1", ALL)).json())[1] == MOBILE
    finally:
        await keyed.close()
    text = database_text(store_url)
    assert RESIDENT_ID not in text and MOBILE not in text and SPOUSE_MOBILE not in text
