"""An in-memory Docker engine for the docker target's unit tests (no Docker needed).

Each "container" is a tiny real HTTP server on 127.0.0.1 answering ``/readyz`` with the instance
id of the contract it was given, so the target's readiness probes run exactly as with an engine.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from infra_chains.serving.contract import CONTRACT_JSON_ENV
from infra_chains.serving.probe import INSTANCE_HEADER
from infra_chains.targets.docker.engine import (
    BaseImageMissingError,
    BuildFailedError,
    ContainerInfo,
    ContainerSpec,
    Engine,
)


def _server(instance: str, port: int | None) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header(INSTANCE_HEADER, instance)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class FakeEngine(Engine):
    def __init__(self, runtimes: list[str] | None = None, user: tuple[int, int] = (0, 0)) -> None:
        self._runtimes = runtimes or ["runc"]
        self._user = user
        self._ids = itertools.count(1)
        self.images: dict[str, str] = {"python:3.11-slim": "sha256:base"}
        self.built: list[str] = []
        #: (tag, build network, build args) of each build.
        self.builds: list[tuple[str, str | None, dict[str, str]]] = []
        #: A build whose tag contains a key fails with its message.
        self.build_failures: dict[str, str] = {}
        self.specs: dict[str, ContainerSpec] = {}
        self.infos: dict[str, ContainerInfo] = {}
        self._servers: dict[str, http.server.ThreadingHTTPServer] = {}
        self.network_labels: dict[str, dict[str, str]] = {}
        self.runs: list[str] = []
        self.volume_labels: dict[str, dict[str, str]] = {}
        #: One-off containers run to completion, and the (exit code, log) each name answers.
        self.one_offs: list[ContainerSpec] = []
        self.one_off_results: dict[str, tuple[int, list[str]]] = {}

    def runtimes(self) -> list[str]:
        return self._runtimes

    def image_id(self, tag: str) -> str | None:
        return self.images.get(tag)

    def image_user(self, tag: str) -> tuple[int, int]:
        return self._user

    def ensure_base_image(self, image: str) -> None:
        if image not in self.images:
            raise BaseImageMissingError(f"Base image {image!r} is not on the engine (fake).")

    def build(self, context_dir: str, tag: str, *, network: str | None,
              build_args: Mapping[str, str], on_line: Any = None) -> str:
        self.builds.append((tag, network, dict(build_args)))
        for part, message in self.build_failures.items():
            if part in tag:
                raise BuildFailedError(message)
        self.built.append(tag)
        self.images[tag] = f"sha256:{next(self._ids)}"
        return self.images[tag]

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        self.network_labels.setdefault(name, dict(labels))

    def remove_network(self, name: str) -> bool:
        return self.network_labels.pop(name, None) is not None

    def networks(self, labels: Mapping[str, str | None]) -> list[str]:
        return sorted(n for n, ls in self.network_labels.items() if _matches(ls, labels))

    def containers(self, labels: Mapping[str, str | None]) -> list[ContainerInfo]:
        return [i for i in self.infos.values() if _matches(i.labels, labels)]

    def container(self, name_or_id: str) -> ContainerInfo | None:
        return next((i for i in self.infos.values() if name_or_id in (i.id, i.name)), None)

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        assert self.container(spec.name) is None, f"container name {spec.name} in use"
        contract = json.loads(spec.environment[CONTRACT_JSON_ENV])
        server = _server(contract["instance_id"], spec.host_port)
        cid = f"c{next(self._ids)}"
        self._servers[cid] = server
        self.specs[cid] = spec
        self.runs.append(spec.labels["infra-chains.chainlet"])
        info = ContainerInfo(id=cid, name=spec.name, image_id=self.images[spec.image], labels=spec.labels,
                             state="running", host_port=server.server_address[1])
        self.infos[cid] = info
        return info

    def run_to_completion(self, spec: ContainerSpec, *, timeout_sec: float) -> tuple[int, list[str]]:
        self.one_offs.append(spec)
        self.runs.append(spec.name)
        return self.one_off_results.get(spec.name, (0, []))

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        if name in self.volume_labels:
            return False
        self.volume_labels[name] = dict(labels)
        return True

    def volumes(self, labels: Mapping[str, str | None]) -> list[str]:
        return sorted(n for n, ls in self.volume_labels.items() if _matches(ls, labels))

    def remove_volume(self, name: str) -> bool:
        return self.volume_labels.pop(name, None) is not None

    def remove(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        info = self.container(name_or_id)
        if info is not None:
            _close(self._servers.pop(info.id))
            del self.infos[info.id]

    def stop(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        info = self.container(name_or_id)
        if info is not None:
            self.infos[info.id] = info.model_copy(update={"state": "exited", "exit_code": 1})

    def logs(self, name_or_id: str, *, tail: int, follow: bool) -> Iterator[str]:
        yield f"log of {name_or_id}"

    def close(self) -> None:
        for server in self._servers.values():
            _close(server)
        self._servers.clear()


def _close(server: http.server.ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


def _matches(have: Mapping[str, str], want: Mapping[str, str | None]) -> bool:
    return all(k in have and (v is None or have[k] == v) for k, v in want.items())
