"""infra_chains, local target, through its CLI exactly as a user would run it.

Contract relied on (shared/API.md "Command line", and the bench issue):
- `infra-chains push FILE --name NAME` deploys and prints the entrypoint URL; POST it with the
  keyword arguments as JSON (a bare http://host:port gets `/run_remote` appended);
- `infra-chains status NAME --json` prints {"entrypoint_url", "supervisor_pid",
  "chainlets": [{"name", "pid", "port", "url", "status", "restarts"}]};
- `infra-chains down NAME` stops the chain;
- binary requests: Content-Type application/x-msgpack, body from infra_chains.serving.codec.encode.
Any of this missing shows up as "not available: <reason>" in the table, never as a crash.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import load, procs, workload as w
from harness.load import Request
from systems.base import (BENCH, PEERS, Config, Deployment, HttpSystem, Log, NotAvailable, child_env,
                          last_line)

PROJECT = BENCH.parent
PROJECT_PYTHON = PROJECT / ".venv" / "bin" / "python"
CLI = PROJECT / ".venv" / "bin" / "infra-chains"
TEXT_CHAIN, ARRAY_CHAIN = "bench3", "bench3-array"
URL_RE = re.compile(r"https?://127\.0\.0\.1:\d+[^\s'\"]*")
ENTRYPOINT_RE = re.compile(r"^Entrypoint:\s+(https?://127\.0\.0\.1:\d+\S*)", re.MULTILINE)


def cli(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], cwd=PROJECT, capture_output=True, text=True,
                          timeout=timeout_s, env=child_env())


class Pushed:
    """One chain pushed with the CLI: its entrypoint URL and its processes."""

    def __init__(self, name: str, chain_file: Path, cfg: Config, log: Log) -> None:
        self.name = name
        log_path = cfg.logs / f"infra-push-{name}.log"
        log_path.unlink(missing_ok=True)
        self.push = procs.spawn([str(CLI), "push", str(chain_file), "--name", name], cwd=PROJECT,
                                env=child_env(), log=log_path)
        self._pids: set[int] = set()
        self._supervisors: set[int] = set()
        try:
            self.url = self._wait_url(log_path, cfg.ready_timeout_s)
        except BaseException:
            self.stop()  # a half-started chain must not outlive the attempt
            raise

    def _wait_url(self, log_path: Path, timeout_s: float) -> str:
        """Wait until push has exited 0 (or printed a URL and stays in the foreground); find the URL."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            rc = self.push.poll()
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            if rc not in (None, 0):
                raise NotAvailable(f"`infra-chains push` failed (rc={rc}): {last_line(text)}")
            if rc == 0 or URL_RE.search(text):
                # The URL push printed; `status` (another CLI run, ~0.4 s) only if it printed none:
                # the cold start ends at the first answer, and status is no part of starting.
                printed = ENTRYPOINT_RE.search(text)
                status = None if printed else self.status()
                url = printed.group(1) if printed else str(
                    (status or {}).get("entrypoint_url") or (URL_RE.findall(text) or [""])[-1])
                if not url:
                    raise NotAvailable(f"`infra-chains push` printed no URL: {last_line(text)}")
                return url + "/run_remote" if urlsplit(url).path in ("", "/") else url
            time.sleep(0.02)
        raise NotAvailable(f"`infra-chains push` gave no URL within {timeout_s:.0f}s")

    def status(self) -> dict[str, Any] | None:
        try:
            out = cli("status", self.name, "--json")
            doc = json.loads(out.stdout) if out.returncode == 0 else None
        except (subprocess.SubprocessError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def roots(self) -> set[int]:
        """Supervisor + chainlet pids from `status --json` (remembered for cleanup), and push itself."""
        status = self.status() or {}
        sup = status.get("supervisor_pid")
        if isinstance(sup, int) and sup > 0:
            self._supervisors.add(sup)
        pids = {sup} | {c.get("pid") for c in status.get("chainlets", [])}
        self._pids |= {p for p in pids if isinstance(p, int) and p > 0}
        return self._pids | {self.push.pid}

    def sessions(self) -> list[int]:
        """The supervisor daemonizes as a session leader; a chainlet it (re)starts stays in that session."""
        return sorted(self._supervisors | {self.push.pid})

    def family(self) -> set[int]:
        return procs.family(sorted(self.roots()), self.sessions())

    def alive(self) -> bool:
        return self.push.poll() in (None, 0)

    def stop(self) -> set[int]:
        roots = self.roots()
        try:
            cli("down", self.name)
        except subprocess.SubprocessError:
            pass
        return procs.kill_family(sorted(roots), self.sessions())


class InfraDeployment(Deployment):
    def __init__(self, system: InfraChains, cfg: Config, log: Log) -> None:
        self._system, self._cfg, self._log = system, cfg, log
        self._text = Pushed(TEXT_CHAIN, BENCH / "chains" / "pipeline.py", cfg, log)
        self._array: Pushed | None = None
        self.text = Request(self._text.url, w.TEXT_BODY, w.JSON, w.check_text)

    def pids(self) -> set[int]:
        """Only the text chain (3 chainlets + supervisor): the array chain starts after RSS is taken."""
        return self._text.family()

    def alive(self) -> bool:
        return self._text.alive()

    def array_request(self, binary: bool) -> Request:
        parts = self._system.binary_parts() if binary else None
        if isinstance(parts, str):
            raise NotAvailable(parts)
        if self._array is None:
            self._array = Pushed(ARRAY_CHAIN, BENCH / "chains" / "array_pipeline.py", self._cfg, self._log)
        url = self._array.url
        if parts is not None:
            req = Request(url, parts[0], parts[1], w.check_array_binary)
        else:
            req = Request(url, w.ARRAY_JSON_BODY, w.JSON, w.check_array_json)
        # push returned only once every chainlet was ready: an error now is an answer, not slowness.
        load.wait_ready(req, min(self._cfg.ready_timeout_s, 15.0), self._array.alive)
        return req

    def stop(self) -> None:
        survivors = set()
        for pushed in (self._array, self._text):
            if pushed is not None:
                survivors |= pushed.stop()
        if survivors:
            raise RuntimeError(f"infra_chains processes survived `down` and SIGKILL: {sorted(survivors)}")


class InfraChains(HttpSystem):
    name = "infra_chains"
    def prepare(self, log: Log) -> None:
        if not CLI.exists():
            raise NotAvailable(f"`infra-chains` CLI not found at {CLI.relative_to(PROJECT)}")
        try:
            out = cli("--help")
        except subprocess.SubprocessError as exc:
            raise NotAvailable(f"`infra-chains --help` failed: {exc}") from exc
        if out.returncode != 0:
            raise NotAvailable(f"`infra-chains --help` failed (rc={out.returncode}): {last_line(out.stderr or out.stdout)}")
        # Bytecode, as an installed package has (the peers' wheels come compiled): with
        # PYTHONDONTWRITEBYTECODE=1 every process would compile the package (~60 ms each, three
        # processes in a push). checked-hash: a later edit of a source is never hidden.
        subprocess.run([str(PROJECT_PYTHON), "-m", "compileall", "-q", "--invalidation-mode",
                        "checked-hash", str(PROJECT / "infra_chains")], capture_output=True, timeout=300)
        self.cleanup(log)

    def binary_parts(self) -> tuple[bytes, dict[str, str]] | str:
        """The msgpack request (body, headers) from the package's own codec, or why there is none.

        Built per deployment (outside any timing) so it always matches the codec being measured."""
        path = BENCH / ".venvs" / "infra-array.body"
        try:
            out = subprocess.run([str(PROJECT_PYTHON), str(PEERS / "infra" / "make_body.py"), str(path)],
                                 capture_output=True, text=True, timeout=120, env=child_env())
        except subprocess.SubprocessError as exc:
            return f"codec helper failed: {exc}"
        if out.returncode != 0:
            return f"infra_chains.serving.codec not usable: {last_line(out.stderr)}"
        return path.read_bytes(), json.loads(out.stdout)

    def deploy(self, cfg: Config, log: Log) -> Deployment:
        return InfraDeployment(self, cfg, log)

    def cleanup(self, log: Log) -> None:
        """`down` both bench chains, e.g. left over from an interrupted run (errors ignored)."""
        for name in (TEXT_CHAIN, ARRAY_CHAIN):
            try:
                cli("down", name)
            except subprocess.SubprocessError:
                pass
