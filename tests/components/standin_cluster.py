"""A stand-in cluster on the Docker engine: runs rendered Kubernetes objects the way a kubelet and
cluster DNS would, closely enough to prove the manifests *work*, not only validate.

Each Deployment's pod becomes one container (its image, env, user, capabilities, resource limits;
ConfigMap and Secret volumes copied in at their mount paths with the modes and group a kubelet
gives them; emptyDirs as tmpfs), each Service a set of network aliases carrying its in-cluster DNS
names on one user-defined bridge network, and the probes are polled over the pod's IP as a kubelet
polls them. What it does not emulate: a read-only root filesystem (the engine refuses to copy
files into one before start), NetworkPolicies, replicas > 1, and a Service port that differs from
its target port (there is no kube-proxy; aliases reach the container port directly).
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import pathlib
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CLUSTER_DOMAIN = "svc.cluster.local"
#: A probe's ``timeoutSeconds`` default in Kubernetes.
PROBE_TIMEOUT_SEC = 1.0


@dataclasses.dataclass(frozen=True)
class Pod:
    """One Deployment's pod, as this stand-in runs it."""

    deployment: str
    namespace: str
    spec: dict[str, Any]  # spec.template.spec
    labels: dict[str, str]
    aliases: list[str]

    @property
    def container(self) -> dict[str, Any]:
        containers = self.spec["containers"]
        assert len(containers) == 1, (
            f"Deployment {self.deployment}: one container expected, got {len(containers)}")
        return dict(containers[0])

    def port(self, name_or_number: str | int) -> int:
        if isinstance(name_or_number, int) or str(name_or_number).isdigit():
            return int(name_or_number)
        for port in self.container.get("ports", []):
            if port.get("name") == name_or_number:
                return int(port["containerPort"])
        raise KeyError(f"Deployment {self.deployment}: no container port named {name_or_number!r}")


def pods(manifests: Iterable[Mapping[str, Any]]) -> list[Pod]:
    """The pods of every Deployment, each with the DNS names of the Services that select it."""
    manifests = list(manifests)
    services = [m for m in manifests if m["kind"] == "Service"]
    found: list[Pod] = []
    for deployment in (m for m in manifests if m["kind"] == "Deployment"):
        namespace = deployment["metadata"]["namespace"]
        template = deployment["spec"]["template"]
        labels = dict(template["metadata"]["labels"])
        pod = Pod(deployment["metadata"]["name"], namespace, template["spec"], labels, [])
        for service in services:
            selector = service["spec"].get("selector") or {}
            if service["metadata"]["namespace"] != namespace or not selector:
                continue
            if all(labels.get(key) == value for key, value in selector.items()):
                for port in service["spec"]["ports"]:
                    target = pod.port(port.get("targetPort", port["port"]))
                    assert target == int(port["port"]), (
                        f"Service {service['metadata']['name']}: port {port['port']} -> {target}; the "
                        "stand-in has no kube-proxy, so a Service port must equal its target port")
                name = service["metadata"]["name"]
                pod.aliases.extend([name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
                                    f"{name}.{namespace}.{CLUSTER_DOMAIN}"])
        found.append(pod)
    return found


def _object(manifests: Iterable[Mapping[str, Any]], kind: str, namespace: str,
            name: str) -> Mapping[str, Any]:
    for manifest in manifests:
        meta = manifest["metadata"]
        if manifest["kind"] == kind and meta.get("namespace") == namespace and meta.get("name") == name:
            return manifest
    raise KeyError(f"no {kind} {namespace}/{name} among the rendered objects")


def _volume_files(manifests: Sequence[Mapping[str, Any]], pod: Pod,
                  volume: Mapping[str, Any]) -> tuple[dict[str, bytes], int, int]:
    """A ConfigMap or Secret volume's files, their mode and group (a kubelet sets fsGroup)."""
    fs_group = int(pod.spec.get("securityContext", {}).get("fsGroup", 0))
    if "configMap" in volume:
        source = _object(manifests, "ConfigMap", pod.namespace, volume["configMap"]["name"])
        files = {k: v.encode() for k, v in (source.get("data") or {}).items()}
        return files, int(volume["configMap"].get("defaultMode", 0o644)), fs_group
    if "secret" in volume:
        source = _object(manifests, "Secret", pod.namespace, volume["secret"]["secretName"])
        files = {k: v.encode() for k, v in (source.get("stringData") or {}).items()}
        files.update({k: base64.b64decode(v) for k, v in (source.get("data") or {}).items()})
        return files, int(volume["secret"].get("defaultMode", 0o644)), fs_group
    raise ValueError(f"Deployment {pod.deployment}: volume {volume['name']!r} is of a kind the stand-in "
                     f"does not copy: {sorted(volume)}")


def files_archive(manifests: Sequence[Mapping[str, Any]], pod: Pod) -> tuple[bytes, list[str]]:
    """A tar of the pod's ConfigMap/Secret mounts (for ``put_archive`` at ``/``), and the
    emptyDir mount paths (tmpfs)."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes", [])}
    buffer = io.BytesIO()
    tmpfs: list[str] = []
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        made: set[str] = set()
        for mount in pod.container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            path = mount["mountPath"].rstrip("/")
            if "emptyDir" in volume:
                tmpfs.append(path)
                continue
            files, mode, group = _volume_files(manifests, pod, volume)
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    made.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            for name, content in files.items():
                info = tarfile.TarInfo(f"{path.strip('/')}/{name}")
                info.size, info.mode, info.uid, info.gid = len(content), mode, 0, group
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue(), tmpfs


def environment(pod: Pod) -> dict[str, str]:
    """The container's env, ``valueFrom.fieldRef`` resolved as the downward API would."""
    fields = {"metadata.name": f"{pod.deployment}-standin-0", "metadata.namespace": pod.namespace}
    env: dict[str, str] = {}
    for item in pod.container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        elif "fieldRef" in item.get("valueFrom", {}):
            env[item["name"]] = fields[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise ValueError(f"Deployment {pod.deployment}: env {item['name']!r} uses a source the "
                             f"stand-in does not resolve: {item.get('valueFrom')}")
    return env


def quantity_bytes(value: str | int) -> int:
    text = str(value)
    for suffix, factor in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40)):
        if text.endswith(suffix):
            return int(float(text[:-2]) * factor)
    return int(float(text))


def quantity_nano_cpus(value: str | int) -> int:
    text = str(value)
    return int(float(text[:-1]) * 1e6) if text.endswith("m") else int(float(text) * 1e9)


def create_container(client: Any, pod: Pod, *, name: str, network: str, labels: Mapping[str, str],
                     manifests: Sequence[Mapping[str, Any]], publish: bool) -> str:
    """Create (not start) the pod's container; returns its id."""
    container = pod.container
    security = {**pod.spec.get("securityContext", {}), **container.get("securityContext", {})}
    user = f"{int(security.get('runAsUser', 0))}:{int(security.get('runAsGroup', 0))}"
    fs_group = pod.spec.get("securityContext", {}).get("fsGroup")
    group_add = [str(int(fs_group))] if fs_group is not None else None
    archive, tmpfs_paths = files_archive(manifests, pod)
    limits = container.get("resources", {}).get("limits", {})
    ports = [pod.port(p["containerPort"]) for p in container.get("ports", [])]
    api = client.api
    host_config = api.create_host_config(
        network_mode=network,
        port_bindings={f"{p}/tcp": ("127.0.0.1", "") for p in ports} if publish else None,
        tmpfs={path: "mode=1777" for path in tmpfs_paths},
        cap_drop=list(security.get("capabilities", {}).get("drop", [])) or None,
        security_opt=["no-new-privileges"] if security.get("allowPrivilegeEscalation") is False else None,
        privileged=bool(security.get("privileged", False)),
        group_add=group_add,
        nano_cpus=quantity_nano_cpus(limits["cpu"]) if "cpu" in limits else None,
        mem_limit=quantity_bytes(limits["memory"]) if "memory" in limits else None,
    )
    created = api.create_container(
        container["image"], name=name, labels=dict(labels), environment=environment(pod), user=user,
        hostname=pod.deployment[:63], ports=ports, host_config=host_config,
        networking_config=api.create_networking_config(
            {network: api.create_endpoint_config(aliases=pod.aliases)}),
    )
    container_id = str(created["Id"])
    assert api.put_archive(container_id, "/", archive), f"copying volumes into {name} failed"
    return container_id


def _get(url: str, timeout_sec: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_sec) as response:  # noqa: S310 (http only)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, urllib.error.URLError):
        return 0


def wait_probes(client: Any, pod: Pod, container_id: str, network: str, *, deadline_sec: float) -> None:
    """Poll the startup probe, then the readiness and liveness probes, over the pod's IP, as a
    kubelet does; fail with the container's log if it exits or the deadline passes."""
    container = pod.container
    start = time.monotonic()
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if probe is None:
            continue
        http = probe["httpGet"]
        timeout = float(probe.get("timeoutSeconds", PROBE_TIMEOUT_SEC))
        period = float(probe.get("periodSeconds", 10))
        while True:
            attrs = client.api.inspect_container(container_id)
            if not attrs["State"]["Running"]:
                logs = client.api.logs(container_id, tail=40).decode(errors="replace")
                raise AssertionError(f"{pod.deployment} exited ({attrs['State']['ExitCode']}) before its "
                                     f"{kind} passed; log tail:\n{logs}")
            ip = attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            url = f"http://{ip}:{pod.port(http['port'])}{http['path']}"
            status = _get(url, timeout)
            if 200 <= status < 400:
                break
            if time.monotonic() - start > deadline_sec:
                logs = client.api.logs(container_id, tail=40).decode(errors="replace")
                raise AssertionError(f"{pod.deployment}: {kind} {url} not passing after {deadline_sec}s "
                                     f"(last status {status}); log tail:\n{logs}")
            time.sleep(min(period, 1.0))


#: The base image the test chains ask for (scripts/ci-docker makes it where no registry is reachable).
BASE_IMAGE = "python:3.11-slim"
#: examples/text_pipeline.py's input for a call through the stand-in cluster.
TEXT_PIPELINE_DOCUMENT = {"document": {"text": "One two. Three four five. Six.", "max_chunk_chars": 12}}


def docker_engine() -> Any:
    """The Docker engine the tests build and run on; skips the test, saying why, without one."""
    import pytest

    from infra_chains.targets.docker.engine import DockerEngine, EngineUnavailableError

    try:
        engine = DockerEngine()
    except EngineUnavailableError as exc:
        pytest.skip(f"no usable Docker engine ({str(exc).splitlines()[0]})")
    if engine.image_id(BASE_IMAGE) is None:
        pytest.skip(f"no usable Docker engine (base image {BASE_IMAGE} is missing)")
    return engine


#: The network image builds reach PyPI through: the engine scripts/ci-docker starts has no default
#: bridge, so host unless the environment names another (as the docker target's tests).
BUILD_NETWORK = os.environ.get("INFRA_CHAINS_DOCKER_BUILD_NETWORK") or "host"


def build_images(engine: Any, plan: Any, references: Mapping[str, str]) -> list[str]:
    """Build each chainlet's image of ``plan`` as CI would, tagged with the reference its pod
    runs (``references`` by chainlet name); returns the references built."""
    from infra_chains.build.context import write_build_context

    built: list[str] = []
    for spec in plan.chainlets:
        reference = references[spec.name]
        assert reference.endswith(f":{spec.image_hash}"), (reference, spec.image_hash)
        engine.ensure_base_image(spec.image.base_image)
        with tempfile.TemporaryDirectory(prefix="infra-chains-standin-") as tmp:
            context = write_build_context(plan, spec, pathlib.Path(tmp) / "context")
            built.append(reference)
            engine.build(str(context.directory), reference, network=BUILD_NETWORK, build_args={})
    return built


def run_and_call(manifests: Sequence[Mapping[str, Any]], entrypoint_url: str, document: Any, *,
                 run: str, never_shown: str) -> Any:
    """Run every pod on one network, wait for their probes, POST ``document`` to the entrypoint
    (the pod whose Service ``entrypoint_url`` names, published on 127.0.0.1) and return its JSON
    answer; ``never_shown`` (a secret value) must be in no container's inspect output. Leaves
    nothing behind."""
    import docker

    found = pods(manifests)
    assert found and all(pod.aliases for pod in found)
    entry_host = urllib.parse.urlsplit(entrypoint_url).hostname
    entry_pod = next(pod for pod in found if entry_host in pod.aliases)
    client = docker.from_env()
    network = f"infra-chains-standin-{run}"
    labels = {"infra-chains.standin": run}
    containers: dict[str, str] = {}
    try:
        client.networks.create(network, driver="bridge", labels=labels, check_duplicate=True)
        for pod in found:
            containers[pod.deployment] = create_container(
                client, pod, name=f"{pod.deployment}-{run}", network=network, labels=labels,
                manifests=manifests, publish=pod is entry_pod)
        for pod in found:
            client.api.start(containers[pod.deployment])
        for pod in found:
            wait_probes(client, pod, containers[pod.deployment], network, deadline_sec=120)
        entry_port = entry_pod.port(entry_pod.container["ports"][0]["containerPort"])
        binding = client.api.inspect_container(containers[entry_pod.deployment])["NetworkSettings"]["Ports"]
        host_port = int(binding[f"{entry_port}/tcp"][0]["HostPort"])
        request = urllib.request.Request(
            f"http://127.0.0.1:{host_port}/run_remote", data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (http only)
            answer = json.loads(response.read())
        for container_id in containers.values():  # no secret on any command line or in any env
            assert never_shown not in json.dumps(client.api.inspect_container(container_id))
        return answer
    finally:
        for container_id in containers.values():
            try:
                client.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                pass
        for net in client.networks.list(names=[network]):
            net.remove()
        client.close()
