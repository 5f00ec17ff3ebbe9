"""The Docker engine behind one small object: what the docker target asks of an engine, nothing more.

`DockerEngine` talks to a real engine through the Docker Engine API (the ``docker`` Python SDK,
never the CLI); tests give the target a fake with the same methods. Every engine error leaves
here as a `DeploymentError` (or `EngineUnavailableError`) whose message says what to do.
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
import posixpath
import re
import socket
import tarfile
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import pydantic

from infra_chains.errors import DeploymentError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
#: The first Engine API version with volume subpaths (Docker Engine 26); older engines get a bind
#: mount of the subpath from the volume's directory on the engine's host (`DockerEngine._mount`).
VOLUME_SUBPATH_API = (1, 45)
#: Lines of a failed build's output kept for its error message.
BUILD_TAIL_LINES = 25


class EngineUnavailableError(DeploymentError):
    """No Docker engine answers; the message names the address tried and what to start."""


class BaseImageMissingError(DeploymentError):
    """The base image of a chainlet is neither on the engine nor pullable."""


class BuildFailedError(DeploymentError):
    """An image build failed; the message names the step and ends with its last output lines."""


class PortInUseError(DeploymentError):
    """The entrypoint's host port is taken by another program."""


class Mount(pydantic.BaseModel):
    """A host directory or file bind-mounted into a container, or a named volume (a `subpath`
    of it: natively on Docker Engine 26 or newer, as a bind of the volume's files before)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    source: str
    target: str
    read_only: bool = True
    type: Literal["bind", "volume"] = "bind"
    subpath: str | None = None


class Healthcheck(pydantic.BaseModel):
    """A container's health check numbers; its command stays the image's ``HEALTHCHECK``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    interval_sec: float
    timeout_sec: float
    retries: int
    start_period_sec: float


class ContainerSpec(pydantic.BaseModel):
    """Everything needed to create one chainlet's container; pure data, made by `containers.py`."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    name: str
    image: str
    labels: dict[str, str]
    environment: dict[str, str]
    network: str
    aliases: list[str]
    container_port: int | None = pydantic.Field(description="None: nothing is published.")
    host_ip: str = "127.0.0.1"
    host_port: int | None = pydantic.Field(default=None, description="None: the engine picks one.")
    mounts: list[Mount] = pydantic.Field(default_factory=list)
    nano_cpus: int | None = None
    mem_limit_bytes: int | None = None
    gpu_count: int = 0
    restart_policy: str = "unless-stopped"
    stop_timeout_sec: int = 30
    #: Replaces the image's CMD (a one-off container: the asset fetch).
    command: list[str] | None = None
    #: Replaces the image's USER (``uid:gid``).
    user: str | None = None
    cap_drop: list[str] = pydantic.Field(default_factory=list)
    cap_add: list[str] = pydantic.Field(default_factory=list)
    security_opt: list[str] = pydantic.Field(default_factory=list)
    #: None: the image's ``HEALTHCHECK`` as built.
    healthcheck: Healthcheck | None = None


class ContainerInfo(pydantic.BaseModel):
    """A container as the target needs to see it (from the engine's inspect)."""

    id: str
    name: str
    image_id: str
    labels: dict[str, str]
    state: str = pydantic.Field(description="created, running, restarting, exited, dead, paused, removing.")
    exit_code: int = 0
    restart_count: int = 0
    pid: int = 0
    host_port: int | None = None
    error: str = ""


class Engine(abc.ABC):
    """The operations the docker target uses; `DockerEngine` is the real one."""

    @abc.abstractmethod
    def runtimes(self) -> list[str]:
        """Container runtimes the engine offers (``nvidia`` is needed for GPUs)."""

    @abc.abstractmethod
    def image_id(self, tag: str) -> str | None:
        """The id of the image tagged ``tag``, None if the engine has none."""

    @abc.abstractmethod
    def image_user(self, tag: str) -> tuple[int, int]:
        """uid and gid the image's processes run as (its ``USER``, resolved in its /etc/passwd)."""

    @abc.abstractmethod
    def ensure_base_image(self, image: str) -> None:
        """Make sure ``image`` is on the engine (pulling it); `BaseImageMissingError` if it cannot."""

    @abc.abstractmethod
    def build(self, context_dir: str, tag: str, *, network: str | None,
              build_args: Mapping[str, str], on_line: Any = None) -> str:
        """Build ``context_dir`` as ``tag``; returns the image id or raises `BuildFailedError`."""

    @abc.abstractmethod
    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        """Create the bridge network ``name`` unless it exists."""

    @abc.abstractmethod
    def remove_network(self, name: str) -> bool:
        """Remove the network ``name``; False if there was none."""

    @abc.abstractmethod
    def networks(self, labels: Mapping[str, str | None]) -> list[str]:
        """Names of the networks carrying all ``labels`` (a None value: the label, any value)."""

    @abc.abstractmethod
    def containers(self, labels: Mapping[str, str | None]) -> list[ContainerInfo]:
        """Every container (running or not) carrying all ``labels`` (None: any value)."""

    @abc.abstractmethod
    def container(self, name_or_id: str) -> ContainerInfo | None:
        """One container, None if it is gone."""

    @abc.abstractmethod
    def run(self, spec: ContainerSpec) -> ContainerInfo:
        """Create and start a container from ``spec``."""

    @abc.abstractmethod
    def run_to_completion(self, spec: ContainerSpec, *, timeout_sec: float) -> tuple[int, list[str]]:
        """Run a one-off container to its end and remove it: (exit code, its last log lines);
        `DeploymentError` when it outlives ``timeout_sec``."""

    @abc.abstractmethod
    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        """Create the named volume ``name`` unless it exists; True when it was created."""

    @abc.abstractmethod
    def volumes(self, labels: Mapping[str, str | None]) -> list[str]:
        """Names of the volumes carrying all ``labels`` (a None value: the label, any value)."""

    @abc.abstractmethod
    def remove_volume(self, name: str) -> bool:
        """Remove the volume ``name``; False if there was none."""

    @abc.abstractmethod
    def remove(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        """Stop (SIGTERM, then SIGKILL after the timeout) and remove; no error if it is gone."""

    @abc.abstractmethod
    def stop(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        """Stop without removing (its restart policy no longer applies; its logs stay)."""

    @abc.abstractmethod
    def logs(self, name_or_id: str, *, tail: int, follow: bool) -> Iterator[str]:
        """The last ``tail`` lines of stdout and stderr, then new ones while ``follow``."""


def _api_error_text(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


class DockerEngine(Engine):
    """The engine at ``base_url`` (default: ``DOCKER_HOST`` or the local socket)."""

    def __init__(self, base_url: str | None = None, timeout_sec: int = 120) -> None:
        import docker  # imported here: only the docker target pays for it

        self._docker: Any = docker
        where = _engine_address(base_url, os.environ)
        if problem := _unix_socket_problem(base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET):
            # Checked here: the SDK's failed version negotiation leaves its socket unclosed.
            raise EngineUnavailableError(_unavailable(where, problem))
        try:
            if base_url is not None:
                self._client: Any = docker.DockerClient(base_url=base_url, timeout=timeout_sec)
            else:
                self._client = docker.from_env(timeout=timeout_sec)
            self._client.ping()
        except docker.errors.DockerException as exc:
            raise EngineUnavailableError(_unavailable(where, _api_error_text(exc))) from exc
        self._users: dict[str, tuple[int, int]] = {}

    @property
    def _errors(self) -> Any:
        return self._docker.errors

    def runtimes(self) -> list[str]:
        return sorted(self._client.info().get("Runtimes", {}))

    def image_id(self, tag: str) -> str | None:
        try:
            return str(self._client.images.get(tag).id)
        except self._errors.ImageNotFound:
            return None

    def image_user(self, tag: str) -> tuple[int, int]:
        if tag in self._users:
            return self._users[tag]
        user = (self._client.images.get(tag).attrs.get("Config") or {}).get("User") or "0"
        name, _, group = user.partition(":")
        if name.isdigit() and (not group or group.isdigit()):
            uid = int(name)
            result = (uid, int(group) if group else uid)
        else:
            result = self._user_from_passwd(tag, name, group)
        self._users[tag] = result
        return result

    def _user_from_passwd(self, tag: str, name: str, group: str) -> tuple[int, int]:
        """Resolve a named ``USER`` from the image's own /etc/passwd and /etc/group (no exec)."""
        container = self._client.containers.create(tag, command=["true"], entrypoint=[])
        try:
            passwd = _read_archive_file(container, "/etc/passwd")
            groups = _read_archive_file(container, "/etc/group") if group and not group.isdigit() else ""
        finally:
            container.remove(force=True)
        uid = gid = None
        for line in passwd.splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == name:
                uid, gid = int(fields[2]), int(fields[3])
        if uid is None or gid is None:
            raise DeploymentError(f"Image {tag}: its USER {name!r} is not in its /etc/passwd.")
        if group.isdigit():
            gid = int(group)
        elif group:
            for line in groups.splitlines():
                fields = line.split(":")
                if len(fields) > 2 and fields[0] == group:
                    gid = int(fields[2])
        return uid, gid

    def ensure_base_image(self, image: str) -> None:
        if self.image_id(image) is not None:
            return
        try:
            self._client.images.pull(image)
        except self._errors.DockerException as exc:
            raise BaseImageMissingError(
                f"Base image {image!r} is not on the Docker engine and pulling it failed: "
                f"{_api_error_text(exc)}.\nPull it (`docker pull {image}`) or build it and tag it "
                f"{image!r}, or choose another base image in the chainlet's DockerImage."
            ) from exc

    def build(self, context_dir: str, tag: str, *, network: str | None,
              build_args: Mapping[str, str], on_line: Any = None) -> str:
        output: list[str] = []
        step = "(before the first step)"
        try:
            stream = self._client.api.build(
                path=context_dir, tag=tag, rm=True, forcerm=True, decode=True,
                network_mode=network, buildargs=dict(build_args) or None,
            )
            image_id = None
            for chunk in stream:
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error", "")
                    raise BuildFailedError(_build_failure(tag, context_dir, step, output, str(detail)))
                text = chunk.get("stream", "")
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    output.append(line)
                    del output[:-BUILD_TAIL_LINES]
                    if re.match(r"^Step \d+/\d+ :", line):
                        step = line
                    if on_line is not None:
                        on_line(line)
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
        except self._errors.APIError as exc:
            raise BuildFailedError(_build_failure(tag, context_dir, step, output, _api_error_text(exc))) from exc
        return image_id or self.image_id(tag) or ""

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        if not self._client.networks.list(names=[name]):
            self._client.networks.create(name, driver="bridge", labels=dict(labels), check_duplicate=True)

    def remove_network(self, name: str) -> bool:
        found = [n for n in self._client.networks.list(names=[name]) if n.name == name]
        for network in found:
            self._remove_network(network)
        return bool(found)

    def _remove_network(self, network: Any, attempts: int = 5) -> None:
        """Remove ``network``; an endpoint of a container removed a moment ago can linger on the
        engine (seen on Engine 20.10 after a container exited while restarting), so endpoints
        still attached are force-disconnected and the removal retried."""
        for attempt in range(attempts):
            try:
                network.remove()
                return
            except self._errors.NotFound:
                return
            except self._errors.APIError as exc:
                if "active endpoints" not in str(exc) or attempt == attempts - 1:
                    raise DeploymentError(
                        f"Could not remove Docker network {network.name!r}: {_api_error_text(exc)}. "
                        f"See `docker network inspect {network.name}` for what is attached."
                    ) from exc
            with contextlib.suppress(self._errors.APIError):
                network.reload()
                for container_id in network.attrs.get("Containers") or {}:
                    with contextlib.suppress(self._errors.APIError):
                        network.disconnect(container_id, force=True)
            time.sleep(0.2 * (attempt + 1))

    def networks(self, labels: Mapping[str, str | None]) -> list[str]:
        found = self._client.networks.list(filters={"label": _label_filters(labels)})
        return sorted(n.name for n in found)

    def containers(self, labels: Mapping[str, str | None]) -> list[ContainerInfo]:
        found = self._client.containers.list(all=True, filters={"label": _label_filters(labels)})
        return [_info(c.attrs) for c in found]

    def container(self, name_or_id: str) -> ContainerInfo | None:
        try:
            return _info(self._client.api.inspect_container(name_or_id))
        except self._errors.NotFound:
            return None

    def _mount(self, mount: Mount) -> Any:
        if mount.subpath is not None and not self._has_volume_subpaths():
            # An older engine ignores VolumeOptions.Subpath and would mount the whole volume at
            # the target (a directory where a file is read). Bind the same files from where the
            # engine keeps the volume on its own host instead: the bind source is resolved there.
            source = posixpath.join(self._volume_mountpoint(mount.source), mount.subpath)
            return self._docker.types.Mount(mount.target, source, type="bind", read_only=mount.read_only)
        made = self._docker.types.Mount(mount.target, mount.source, type=mount.type,
                                        read_only=mount.read_only)
        if mount.subpath is not None:
            made.setdefault("VolumeOptions", {})["Subpath"] = mount.subpath
        return made

    def _has_volume_subpaths(self) -> bool:
        return _api_version(str(self._client.api.api_version)) >= VOLUME_SUBPATH_API

    def _volume_mountpoint(self, name: str) -> str:
        try:
            return str(self._client.api.inspect_volume(name)["Mountpoint"])
        except self._errors.NotFound as exc:
            raise DeploymentError(f"Docker volume {name!r} is missing; push the chain again to "
                                  "create it and fetch its assets.") from exc

    def run(self, spec: ContainerSpec) -> ContainerInfo:
        docker = self._docker
        endpoint = self._client.api.create_endpoint_config(aliases=spec.aliases)
        host_config = self._client.api.create_host_config(
            port_bindings=(
                {f"{spec.container_port}/tcp": (spec.host_ip, spec.host_port or "")}
                if spec.container_port is not None else None
            ),
            mounts=[self._mount(m) for m in spec.mounts],
            cap_drop=spec.cap_drop or None,
            cap_add=spec.cap_add or None,
            security_opt=spec.security_opt or None,
            nano_cpus=spec.nano_cpus,
            mem_limit=spec.mem_limit_bytes,
            device_requests=_device_requests(docker.types, spec.gpu_count),
            restart_policy={"Name": spec.restart_policy},
            network_mode=spec.network,
        )
        try:
            created = self._client.api.create_container(
                spec.image, name=spec.name, labels=spec.labels, environment=spec.environment,
                ports=[spec.container_port] if spec.container_port is not None else None,
                host_config=host_config,
                command=spec.command, user=spec.user,
                networking_config=self._client.api.create_networking_config({spec.network: endpoint}),
                stop_timeout=spec.stop_timeout_sec,
                healthcheck=_healthcheck(spec.healthcheck),
            )
        except docker.errors.APIError as exc:
            raise DeploymentError(f"Creating container {spec.name!r} failed: {_api_error_text(exc)}.") from exc
        try:
            self._client.api.start(created["Id"])
        except docker.errors.APIError as exc:
            text = _api_error_text(exc)
            self.remove(created["Id"], stop_timeout_sec=0)
            if "address already in use" in text or "port is already allocated" in text:
                raise PortInUseError(
                    f"Container {spec.name!r} cannot publish {spec.host_ip}:{spec.host_port}: the port "
                    "is in use by another program. Stop that program, or take the chain down and "
                    "push it again to get a new port."
                ) from exc
            raise DeploymentError(f"Starting container {spec.name!r} failed: {text}.") from exc
        info = self.container(created["Id"])
        if info is None:  # pragma: no cover - removed between start and inspect
            raise DeploymentError(f"Container {spec.name!r} disappeared right after it started.")
        return info

    def run_to_completion(self, spec: ContainerSpec, *, timeout_sec: float) -> tuple[int, list[str]]:
        info = self.run(spec)
        try:
            try:
                result = self._client.api.wait(info.id, timeout=timeout_sec)
            except Exception as exc:  # the SDK raises requests' ReadTimeout on a timeout
                raise DeploymentError(
                    f"Container {spec.name!r} did not finish within {timeout_sec:g} s "
                    f"({type(exc).__name__})."
                ) from exc
            return int(result.get("StatusCode", 1)), list(self.logs(info.id, tail=20, follow=False))
        finally:
            self.remove(info.id, stop_timeout_sec=0)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        try:
            self._client.volumes.get(name)
        except self._errors.NotFound:
            self._client.volumes.create(name=name, labels=dict(labels))
            return True
        return False

    def volumes(self, labels: Mapping[str, str | None]) -> list[str]:
        found = self._client.volumes.list(filters={"label": _label_filters(labels)})
        return sorted(str(volume.name) for volume in found)

    def remove_volume(self, name: str) -> bool:
        try:
            self._client.volumes.get(name).remove(force=True)
        except self._errors.NotFound:
            return False
        return True

    def remove(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        try:
            container = self._client.containers.get(name_or_id)
        except self._errors.NotFound:
            return
        try:
            if container.status in ("running", "restarting", "paused"):
                container.stop(timeout=stop_timeout_sec)
            container.remove(force=True)
        except self._errors.NotFound:
            pass
        except self._errors.APIError as exc:
            if "already in progress" not in _api_error_text(exc):
                raise

    def stop(self, name_or_id: str, *, stop_timeout_sec: int = 30) -> None:
        try:
            self._client.containers.get(name_or_id).stop(timeout=stop_timeout_sec)
        except self._errors.NotFound:
            pass

    def logs(self, name_or_id: str, *, tail: int, follow: bool) -> Iterator[str]:
        try:
            stream = self._client.api.logs(name_or_id, stdout=True, stderr=True, stream=True,
                                           follow=follow, tail=tail)
        except self._errors.NotFound:
            return
        pending = b""
        try:
            for chunk in stream:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace").rstrip("\r")
            if pending:
                yield pending.decode(errors="replace")
        finally:
            stream.close()  # also when the consumer stops early: no socket left to the GC


def _engine_address(base_url: str | None, environ: Mapping[str, str]) -> str:
    """The address a client made with ``base_url`` talks to, and where that address came from."""
    if base_url is not None:
        return base_url
    if environ.get("DOCKER_HOST"):
        return f"{environ['DOCKER_HOST']} (from DOCKER_HOST)"
    return f"{DEFAULT_SOCKET} (DOCKER_HOST is unset)"


def _unavailable(where: str, problem: str) -> str:
    return (
        f"No Docker engine answers at {where}: {problem}.\n"
        "Start the engine (e.g. `systemctl start docker`, or `dockerd &` as root), or set "
        "DOCKER_HOST to the address of a running one, and make sure this user may use its "
        "socket (the `docker` group)."
    )


def _unix_socket_problem(address: str) -> str | None:
    """Why nothing answers on a ``unix://`` address (None: something listens, or not unix)."""
    if not address.startswith("unix://"):
        return None
    path = address.removeprefix("unix://")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(path)
        except OSError as exc:
            return f"cannot connect to {path} ({exc.strerror or exc})"
    return None


def _api_version(text: str) -> tuple[int, int]:
    """``"1.41"`` -> ``(1, 41)``; anything unparsable counts as the oldest version."""
    major, _, minor = text.partition(".")
    try:
        return int(major), int(minor)
    except ValueError:
        return 0, 0


def _label_filters(labels: Mapping[str, str | None]) -> list[str]:
    return [key if value is None else f"{key}={value}" for key, value in labels.items()]


def _read_archive_file(container: Any, path: str) -> str:
    stream, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.next()
        handle = archive.extractfile(member) if member is not None else None
        return handle.read().decode(errors="replace") if handle is not None else ""


def _build_failure(tag: str, context_dir: str, step: str, output: list[str], detail: str) -> str:
    tail = "\n".join(f"  | {line}" for line in output) or "  (no output)"
    return (
        f"Building image {tag} from {context_dir} failed at {step}:\n  {detail.strip()}\n"
        f"Last lines of the build output:\n{tail}"
    )


def _info(attrs: Mapping[str, Any]) -> ContainerInfo:
    state = attrs.get("State") or {}
    ports = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    host_port = None
    for bindings in ports.values():
        for binding in bindings or []:
            if binding.get("HostPort"):
                host_port = int(binding["HostPort"])
    return ContainerInfo(
        id=attrs["Id"],
        name=str(attrs.get("Name", "")).lstrip("/"),
        image_id=str(attrs.get("Image", "")),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        state=str(state.get("Status", "unknown")),
        exit_code=int(state.get("ExitCode") or 0),
        restart_count=int(attrs.get("RestartCount") or 0),
        pid=int(state.get("Pid") or 0),
        host_port=host_port,
        error=str(state.get("Error") or ""),
    )


def _device_requests(types: Any, gpu_count: int) -> list[Any] | None:
    """``gpu_count`` NVIDIA GPUs, as ``docker run --gpus <count>`` asks for them; None for none."""
    if not gpu_count:
        return None
    return [types.DeviceRequest(driver="nvidia", count=gpu_count, capabilities=[["gpu"]])]


def _healthcheck(check: Healthcheck | None) -> dict[str, int] | None:
    """The API's durations are nanoseconds; no ``test``: the engine keeps the image's."""
    if check is None:
        return None
    return {"interval": _nanoseconds(check.interval_sec), "timeout": _nanoseconds(check.timeout_sec),
            "retries": check.retries, "start_period": _nanoseconds(check.start_period_sec)}


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1_000_000_000)
