"""Hand-made reference: 3 uvicorn (uvloop + httptools) processes, aiohttp between steps."""
from __future__ import annotations

from harness import procs, venvs, workload as w
from harness.load import Request
from systems.base import PEERS, Config, Deployment, HttpSystem, Log, NotAvailable, ProcDeployment, child_env

REQUIREMENTS = ["starlette", "uvicorn", "uvloop", "httptools", "aiohttp", "pydantic>=2", "numpy"]


class Handmade(HttpSystem):
    name = "handmade"

    def prepare(self, log: Log) -> None:
        try:
            self.python = venvs.ensure("handmade", REQUIREMENTS, log)
        except venvs.InstallError as exc:
            raise NotAvailable(str(exc)) from exc

    def deploy(self, cfg: Config, log: Log) -> Deployment:
        leaf, mid, entry = procs.free_ports(3)
        started = []
        try:
            for role, port, nxt in (("leaf", leaf, None), ("mid", mid, leaf), ("entry", entry, mid)):
                env = child_env({"ROLE": role, "NEXT_URL": f"http://127.0.0.1:{nxt}" if nxt else ""})
                argv = [str(self.python), "-m", "uvicorn", "app:app", "--host", "127.0.0.1",
                        "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                        "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "5"]
                started.append(procs.spawn(argv, cwd=PEERS / "handmade", env=env,
                                           log=cfg.logs / f"handmade-{role}.log"))
        except BaseException:
            procs.kill_family([p.pid for p in started], [p.pid for p in started])
            raise
        base = f"http://127.0.0.1:{entry}"
        raw_headers = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream",
                       "X-Dtype": "float32", "X-Shape": str(w.ARRAY_LEN)}
        return ProcDeployment(
            started,
            text=Request(f"{base}/run_remote", w.TEXT_BODY, w.JSON, w.check_text),
            arrays={True: Request(f"{base}/array", w.ARRAY_RAW, raw_headers, w.check_array_binary),
                    False: Request(f"{base}/array", w.ARRAY_JSON_BODY, w.JSON, w.check_array_json)},
        )

