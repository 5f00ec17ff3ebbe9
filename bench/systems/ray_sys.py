"""Ray Serve: a local Ray cluster started by peers/ray/app.py, three deployments, handles between."""
from __future__ import annotations

from harness import procs, venvs, workload as w
from harness.load import Request
from systems.base import PEERS, Config, Deployment, HttpSystem, Log, NotAvailable, ProcDeployment, child_env

REQUIREMENTS = ["ray[serve]", "numpy"]
# No phoning home: usage stats off (the dashboard is off in app.py).
OFFLINE_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}


class RayServe(HttpSystem):
    name = "rayserve"

    def prepare(self, log: Log) -> None:
        try:
            self.python = venvs.ensure("ray", REQUIREMENTS, log)
        except venvs.InstallError as exc:
            raise NotAvailable(str(exc)) from exc

    def deploy(self, cfg: Config, log: Log) -> Deployment:
        port = procs.free_ports(1)[0]
        proc = procs.spawn([str(self.python), "app.py", "--port", str(port)], cwd=PEERS / "ray",
                           env=child_env(OFFLINE_ENV), log=cfg.logs / "rayserve.log")
        base = f"http://127.0.0.1:{port}"
        raw_headers = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream",
                       "X-Dtype": "float32", "X-Shape": str(w.ARRAY_LEN)}
        return ProcDeployment(
            [proc],
            text=Request(f"{base}/run_remote", w.TEXT_BODY, w.JSON, w.check_text),
            arrays={True: Request(f"{base}/array", w.ARRAY_RAW, raw_headers, w.check_array_binary),
                    False: Request(f"{base}/array", w.ARRAY_JSON_BODY, w.JSON, w.check_array_json)},
        )
