"""BentoML >= 1.2: `bentoml serve service:Entry` runs Entry, Mid and Leaf, one process each."""
from __future__ import annotations

from harness import procs, venvs, workload as w
from harness.load import Request
from systems.base import BENCH, PEERS, Config, Deployment, HttpSystem, Log, NotAvailable, ProcDeployment, child_env

REQUIREMENTS = ["bentoml>=1.2", "numpy"]
HOME = BENCH / ".venvs" / "bentoml-home"  # BENTOML_HOME: keep its store out of ~/bentoml


# Binary path: a multipart file upload (its pickle framing is refused from outside clients).
_BOUNDARY = "benchboundary7d3a"
UPLOAD_BODY = (f"--{_BOUNDARY}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"a.bin\"\r\n"
               "Content-Type: application/octet-stream\r\n\r\n").encode() + w.ARRAY_RAW + f"\r\n--{_BOUNDARY}--\r\n".encode()
UPLOAD_HEADERS = {"Content-Type": f"multipart/form-data; boundary={_BOUNDARY}", "Accept": "application/octet-stream"}


class BentoML(HttpSystem):
    name = "bentoml"

    def prepare(self, log: Log) -> None:
        try:
            self.python = venvs.ensure("bentoml", REQUIREMENTS, log)
        except venvs.InstallError as exc:
            raise NotAvailable(str(exc)) from exc

    def deploy(self, cfg: Config, log: Log) -> Deployment:
        port = procs.free_ports(1)[0]
        env = child_env({"BENTOML_HOME": str(HOME), "BENTOML_DO_NOT_TRACK": "True"})
        argv = [str(self.python.parent / "bentoml"), "serve", "service:Entry",
                "--host", "127.0.0.1", "--port", str(port)]
        proc = procs.spawn(argv, cwd=PEERS / "bentoml", env=env, log=cfg.logs / "bentoml.log")
        base = f"http://127.0.0.1:{port}"
        binary = Request(f"{base}/array_upload", UPLOAD_BODY, UPLOAD_HEADERS, w.check_array_binary)
        return ProcDeployment(
            [proc],
            text=Request(f"{base}/run_remote", w.TEXT_BODY, w.JSON, w.check_text),
            arrays={True: binary,
                    False: Request(f"{base}/array", w.ARRAY_JSON_BODY, w.JSON, w.check_array_json)},
        )
