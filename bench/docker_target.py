"""examples/text_pipeline.py on the docker target next to the local target.

    .venv/bin/python bench/docker_target.py [--requests 300] [--build-network host]

Measures: a cold push (docker: this bench's images removed first, and every dependency layer
built anew: a build argument unique to the run, which pip ignores, misses the engine's cache of
the requirements install that other chains' builds left; local: processes started), a re-push with one chainlet (the entrypoint) edited in a copy of the chain
file (which images were built, by comparing the containers' image ids), container start to ready
(the engine's StartedAt of a restarted container to its first 200 on /readyz), and one-at-a-time
latency (c=1, p50/p99 over N sequential requests on one keep-alive connection, stdlib client).
Prints a markdown table. Uses its own chain name, so it never touches other chains or images;
loopback only; takes everything down at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import importlib
import json
import pathlib
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import infra_chains as chains  # noqa: E402
from infra_chains.framework.loading import load_entrypoint  # noqa: E402
from infra_chains.targets.base import Target  # noqa: E402
from infra_chains.targets.docker.target import DockerTarget  # noqa: E402
from infra_chains.targets.local.target import LocalTarget  # noqa: E402

CHAIN = "bench-docker-tp"
EXAMPLE = ROOT / "examples" / "text_pipeline.py"
BODY = json.dumps({"document": {"text": "One two. Three four five. Six.", "max_chunk_chars": 12}})
EDIT = ("        self._chunker, self._summarizer = chunker, summarizer",
        "        self._chunker, self._summarizer = chunker, summarizer\n        self._bench_edit = True")


def _push(chain_file: pathlib.Path, target: Target) -> chains.ChainService:
    service = chains.push(load_entrypoint(chain_file), chain_name=CHAIN, remote=target,
                          secrets={"pipeline_token": "bench-token"}, user_env={"mode": "bench"},
                          ready_timeout_sec=600)
    assert service is not None
    return service


def _timed_push(chain_file: pathlib.Path, target: Target) -> tuple[chains.ChainService, float]:
    start = time.perf_counter()
    service = _push(chain_file, target)
    return service, time.perf_counter() - start


def _latency(url: str, requests: int) -> tuple[float, float]:
    """p50 and p99 in ms of `requests` sequential POSTs on one keep-alive connection."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    times: list[float] = []
    try:
        for i in range(requests + 10):  # the first 10 warm up
            start = time.perf_counter()
            conn.request("POST", parts.path, body=BODY, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise SystemExit(f"POST {url} answered {response.status}: {payload[:300]!r}")
            if i >= 10:
                times.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    cuts = statistics.quantiles(times, n=100)
    return cuts[49], cuts[98]


def _docker_client() -> Any:
    sdk: Any = importlib.import_module("docker")  # the SDK, untyped
    return sdk.from_env()


def _image_ids(client: Any) -> dict[str, str]:
    found = client.containers.list(all=True, filters={"label": f"infra-chains.chain={CHAIN}"})
    return {c.labels["infra-chains.chainlet"]: c.image.id for c in found}


def _remove_images(client: Any) -> None:
    for image in client.images.list(name=f"infra-chains/{CHAIN}-*"):
        client.images.remove(image.id, force=True)


def _remove_requirements_stages(client: Any, run_token: str) -> None:
    """The requirements stages this run built: untagged, their history names the run's token."""
    for image in client.images.list(filters={"dangling": True}):
        if any(run_token in (entry.get("CreatedBy") or "") for entry in image.history()):
            client.images.remove(image.id, force=True)


def _start_to_ready(client: Any, chainlet: str) -> float:
    """Seconds from the engine's start of a restarted container to its first 200 on /readyz."""
    container = next(c for c in client.containers.list(filters={"label": f"infra-chains.chain={CHAIN}"})
                     if c.labels["infra-chains.chainlet"] == chainlet)
    container.restart(timeout=10)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get("8080/tcp") or []
        if bindings:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", int(bindings[0]["HostPort"]), timeout=1)
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    ready = datetime.datetime.now(datetime.timezone.utc)
                    started = datetime.datetime.fromisoformat(container.attrs["State"]["StartedAt"][:26] + "+00:00")
                    return (ready - started).total_seconds()
            except OSError:
                pass
            finally:
                conn.close()
        time.sleep(0.01)
    raise SystemExit(f"{chainlet} was not ready 120 s after a restart")


def _bench_docker(workdir: pathlib.Path, requests: int, network: str | None) -> dict[str, str]:
    client = _docker_client()
    # A file:// index that does not exist: pip skips it, the engine's cache key of the install
    # changes, so the cold push installs the requirements (once: the chainlets share the layers).
    run_token = f"bench-{secrets.token_hex(4)}"
    target = DockerTarget(workdir / "docker-state", build_network=network,
                          build_args={"PIP_EXTRA_INDEX_URL": f"file:///nonexistent/{run_token}"})
    chain_file = workdir / "docker-chain" / "text_pipeline.py"  # its folder is the build context
    chain_file.parent.mkdir()
    shutil.copy(EXAMPLE, chain_file)
    try:
        target.down(CHAIN)
        _remove_images(client)
        service, cold = _timed_push(chain_file, target)
        before = _image_ids(client)
        chain_file.write_text(chain_file.read_text().replace(*EDIT))
        service, repush = _timed_push(chain_file, target)
        after = _image_ids(client)
        built = sorted(name for name in after if before.get(name) != after[name])
        ready = {name: _start_to_ready(client, name) for name in sorted(after)}
        p50, p99 = _latency(service.run_remote_url, requests)
    finally:
        target.down(CHAIN)
        _remove_images(client)
        _remove_requirements_stages(client, run_token)
        client.close()
    return {
        "cold push": f"{cold:.1f} s (built {len(before)} images)",
        "re-push, entrypoint edited": f"{repush:.1f} s (built: {', '.join(built) or 'none'})",
        "container start → /readyz": ", ".join(f"{n} {s:.2f} s" for n, s in ready.items()),
        f"latency c=1, N={requests} (p50 / p99)": f"{p50:.2f} / {p99:.2f} ms",
    }


def _bench_local(workdir: pathlib.Path, requests: int) -> dict[str, str]:
    target = LocalTarget(workdir / "local-state")
    chain_file = workdir / "local-chain" / "text_pipeline.py"
    chain_file.parent.mkdir()
    shutil.copy(EXAMPLE, chain_file)
    try:
        service, cold = _timed_push(chain_file, target)
        chain_file.write_text(chain_file.read_text().replace(*EDIT))
        service, repush = _timed_push(chain_file, target)
        p50, p99 = _latency(service.run_remote_url, requests)
    finally:
        target.down(CHAIN)
    return {
        "cold push": f"{cold:.1f} s (no build)",
        "re-push, entrypoint edited": f"{repush:.1f} s",
        "container start → /readyz": "n/a (processes)",
        f"latency c=1, N={requests} (p50 / p99)": f"{p50:.2f} / {p99:.2f} ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--build-network", default=None,
                        help="the network builds use (e.g. host where PyPI is reachable only so)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="infra-chains-bench-docker-") as tmp:
        workdir = pathlib.Path(tmp)
        try:
            local = _bench_local(workdir, args.requests)
            docker = _bench_docker(workdir, args.requests, args.build_network)
        except KeyboardInterrupt:
            raise SystemExit("interrupted; everything was taken down") from None
    print("| text_pipeline | docker | local |\n|---|---|---|")
    for row, value in docker.items():
        print(f"| {row} | {value} | {local[row]} |")


if __name__ == "__main__":
    main()
