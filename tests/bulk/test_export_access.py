"""An export sees exactly what a search by the same caller sees (consent, labels, institutions),
and the job framework: cancel half-way removes the files, close fails running jobs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.bulk.support import exported_ids
from tests.privacy.policy_support import DOCTOR_A, DOCTOR_B, SYSTEM, Clock, World

from yilian.bulk.jobs import JobContext, JobManager
from yilian.router import FhirRouter
from yilian.router.settings import RouterSettings
from yilian.store.base import Repository

pytestmark = pytest.mark.anyio


async def _export(world: World, principal, path: str = "$export", query=()):  # type: ignore[no-untyped-def]
    return await exported_ids(world.router, world.request(principal, "GET", path, list(query)))


async def test_export_sees_what_search_sees(repo: Repository, tmp_path: Path) -> None:
    world = World(repo, Clock())
    await world.load()
    jobs = JobManager(repo, tmp_path / "bulk")
    world.router = FhirRouter(repo, RouterSettings(jobs=jobs), policy=world.policy, audit=world.sink)
    try:
        for who in (DOCTOR_A, DOCTOR_B, SYSTEM):
            got = await _export(world, who, query=[("_type", "Observation,Patient")])
            for rtype in ("Observation", "Patient"):
                matches, _, _ = await world.ids(who, rtype)
                assert got.get(rtype, set()) == matches, (who.subject, rtype)
        # clinic-a's doctor: own oa1, oa2 plus p1's ob1 through the Consent, never PSY ob2 or p2's ob3.
        got = await _export(world, DOCTOR_A, query=[("_type", "Observation")])
        assert got["Observation"] == {"oa1", "oa2", "ob1"}
        patient_level = await _export(world, DOCTOR_A, "Patient/$export", [("_type", "Observation")])
        assert patient_level["Observation"] == (await world.ids(DOCTOR_A, "Observation"))[0]
    finally:
        await jobs.close()


async def test_cancel_half_way_and_close(repo: Repository, tmp_path: Path) -> None:
    jobs = JobManager(repo, tmp_path / "bulk", save_interval=0)
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> None:
        for i in range(1000):
            if ctx.cancelled():
                return
            (ctx.directory / "part.ndjson").open("ab").write(b"{}\n")
            await ctx.progress(i, 1000)
            started.set()
            await asyncio.sleep(0.01)
        ctx.add_output("Patient", "part.ndjson", 1000)

    job = await jobs.submit("export", "me", None, "r", {}, slow)
    await started.wait()
    assert (tmp_path / "bulk" / job.id / "part.ndjson").exists()
    cancelled = await jobs.cancel(job.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert not (tmp_path / "bulk" / job.id).exists()
    assert (await jobs.get(job.id)).status == "cancelled"  # type: ignore[union-attr]

    started.clear()
    running = await jobs.submit("export", "me", None, "r", {}, slow)
    await started.wait()
    await jobs.close()
    stopped = await jobs.get(running.id)
    assert stopped is not None and stopped.status == "failed" and stopped.message == "server stopped"
    assert not (tmp_path / "bulk" / running.id).exists()

    async def boom(ctx: JobContext) -> None:
        (ctx.directory / "half.ndjson").write_bytes(b"{}\n")
        ctx.add_output("Patient", "half.ndjson", 1)
        raise RuntimeError("disk full")

    failed = await JobManager(repo, tmp_path / "bulk").run_inline("import", "me", None, "r", {}, boom)
    assert failed.status == "failed" and "disk full" in failed.message and failed.output == ()
    assert not (tmp_path / "bulk" / failed.id).exists()
