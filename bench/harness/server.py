"""`yilian serve` in a subprocess: started on a free port, waited for, watched for memory.

The server runs with authentication off (`--auth off`): the benchmark measures the FHIR engine
and its database, and a bearer-token check is a per-request constant that does not touch the
database; the run says so in its output.  Peak resident memory comes from the kernel's own
high-water mark (`VmHWM` in /proc/PID/status), so no sampling can miss a short peak.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

__all__ = ["ServerProcess", "free_port", "proc_memory_mb"]

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_memory_mb(pid: int) -> dict[str, float]:
    """Current (VmRSS) and peak (VmHWM) resident memory of `pid`, in MiB ({} off Linux)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        return {}
    return out


class ServerProcess:
    """A context manager around one `yilian serve --db URL --auth off` process."""

    def __init__(
        self,
        db_url: str,
        *,
        workers: int = 1,
        log: Path | None = None,
        cwd: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        """`settings`: extra YILIAN_* variables (field name -> value); the server runs in
        `cwd` so relative defaults (the bulk folder) land in the run's scratch directory."""
        self.db_url = db_url
        self.cwd = cwd
        self.settings = settings or {}
        self.port = free_port()
        self.workers = workers
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        command = [
            str(BIN / "yilian"), "serve", "--db", self.db_url, "--port", str(self.port),
            "--auth", "off", "--log-level", "warning", "--workers", str(self.workers),
        ]  # fmt: skip
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        env = {k: v for k, v in os.environ.items() if not k.startswith("YILIAN_")}
        env.update({f"YILIAN_{k.upper()}": v for k, v in self.settings.items()})
        self.process = subprocess.Popen(command, stdout=out, stderr=out, env=env, cwd=self.cwd)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"yilian serve exited with {self.process.returncode} (log: {self.log})")
            try:
                if httpx.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"yilian serve did not answer within {timeout}s (log: {self.log})")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def check_alive(self) -> None:
        """Raise, with the tail of the server's log, if the process has exited."""
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""
            raise RuntimeError(f"yilian serve exited with {self.process.returncode}:\n{tail}")

    def audit_on(self) -> bool | None:
        """Whether the server said it records the audit trail (None: no log to tell)."""
        if self.log is None or not self.log.exists():
            return None
        return "audit trail on" in self.log.read_text(errors="replace")

    def memory_mb(self) -> dict[str, float]:
        return proc_memory_mb(self.pid)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
