"""The docker target: one image and one container per chainlet, on one bridge network per chain.

Push builds each chainlet's image (skipped when its content-hash tag exists), then replaces only
the containers whose fingerprint label (image, contract, secrets) differs, and waits until each
replaced container answers ``/readyz`` with its own ``instance_id`` on its published 127.0.0.1
port (`serving/probe.py`, as the local supervisor does; no ``docker exec``). The engine's restart
policy (``unless-stopped``) brings a crashed chainlet back; ``status`` probes the same ports.

A replaced chainlet is stopped (drained by SIGTERM) before its successor starts: a container's
port cannot be handed over as the local target hands its socket, so a re-push has a short gap for
the chainlets it changes (see docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import pathlib
import queue
import socket
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping

from infra_chains.build.context import write_build_context
from infra_chains.build.layout import ChainletLayout
from infra_chains.chain_service import ChainService
from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.plan.names import is_valid_chain_name, validate_chain_name
from infra_chains.public_types import DeployedChainlet
from infra_chains.serving import probe
from infra_chains.serving.contract import RuntimeContract
from infra_chains.targets.base import (
    ChainletInfo,
    ChainletProgress,
    ChainletStatus,
    ChainStatus,
    LogLine,
    ProgressCallback,
    Target,
    select_log_sources,
    warn_of_replicas,
)
from infra_chains.targets.contracts import predict_url
from infra_chains.targets.docker import containers as names
from infra_chains.targets.docker.engine import (
    BaseImageMissingError,
    BuildFailedError,
    ContainerInfo,
    DockerEngine,
    Engine,
    PortInUseError,
)
from infra_chains.targets.docker.state import ChainRecord, DockerChainDir
from infra_chains.targets.ports import choose_ports
from infra_chains.targets.secrets import resolve_secrets

logger = logging.getLogger(__name__)

BUILD_NETWORK_ENV = "INFRA_CHAINS_DOCKER_BUILD_NETWORK"
LOG_TAIL_LINES = 30
#: How long a chainlet's asset fetch may take (a cold cache of large weights).
ASSET_FETCH_TIMEOUT_SEC = 3600
_POLL_SEC = 0.1


class DockerChainService(ChainService):
    """A chain running on a Docker engine; its entrypoint is published on 127.0.0.1."""

    def __init__(self, target: DockerTarget, chain_name: str) -> None:
        super().__init__(chain_name)
        self._target = target

    @property
    def run_remote_url(self) -> str:
        status = self._target.status(self.name)
        if status.entrypoint_url is None:
            raise DeploymentError(f"Chain {self.name!r} has no running entrypoint container; push it again.")
        return status.entrypoint_url

    @property
    def status_page_url(self) -> str:
        return self.run_remote_url

    def get_info(self) -> list[DeployedChainlet]:
        status = self._target.status(self.name)
        return [
            DeployedChainlet(name=c.name, is_entrypoint=c.is_entrypoint, status=c.status,
                             logs_url="", url=c.url or "")
            for c in status.chainlets
        ]


class DockerTarget(Target):
    """Deploys chains to a Docker engine (``DOCKER_HOST`` or the local socket).

    ``build_args`` reach the image builds as build arguments (e.g. a private package index) and
    are never written into a layer by the generated Dockerfiles; ``build_network`` is the network
    builds use (default: ``$INFRA_CHAINS_DOCKER_BUILD_NETWORK``, else the engine's default).
    ``engine`` replaces the real engine (tests).
    """

    name = "docker"

    def __init__(
        self,
        root: pathlib.Path | None = None,
        *,
        base_url: str | None = None,
        build_args: Mapping[str, str] | None = None,
        build_network: str | None = None,
        engine: Engine | None = None,
    ) -> None:
        self._root = root
        self._base_url = base_url
        self._engine = engine
        self._build_args = dict(build_args or {})
        self._build_network = build_network or os.environ.get(BUILD_NETWORK_ENV) or None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = DockerEngine(self._base_url)  # EngineUnavailableError says what to start
        return self._engine

    def _dir(self, chain_name: str) -> DockerChainDir:
        return DockerChainDir(chain_name, self._root)

    # -- deploy ------------------------------------------------------------------------------
    def deploy(
        self,
        plan: ChainPlan,
        secrets: Mapping[str, str],
        *,
        ready_timeout_sec: float = 60.0,
        on_progress: ProgressCallback | None = None,
    ) -> DockerChainService:
        """Build what is missing, replace what changed, wait until the chain is ready.

        A first push that fails removes everything it made; a re-push that fails leaves the
        unchanged chainlets serving and the failed container stopped (its logs kept).
        """
        values = resolve_secrets(plan, secrets, environ={})
        chain_dir = self._dir(plan.chain_name)
        labels = names.labels_of(plan)
        engine = self.engine
        self._check_gpus(plan, engine)
        warn_of_replicas(plan, "docker", "container")
        with chain_dir.locked():
            first = not engine.containers({names.LABEL_CHAIN: plan.chain_name})
            try:
                self._deploy_locked(plan, values, chain_dir, labels, ready_timeout_sec, on_progress)
            except BaseException:
                if first:
                    self._remove_all(chain_dir)
                raise
        return DockerChainService(self, plan.chain_name)

    def _deploy_locked(
        self,
        plan: ChainPlan,
        values: Mapping[str, str],
        chain_dir: DockerChainDir,
        labels: Mapping[str, str],
        ready_timeout_sec: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        engine = self.engine
        progress = _Progress(plan, on_progress)
        images = {spec.name: self._build(plan, spec, labels[spec.name], progress) for spec in plan.chainlets}
        engine.ensure_network(names.network_name(plan.chain_name), {names.LABEL_CHAIN: plan.chain_name})
        record = chain_dir.read_record()
        existing = {c.labels.get(names.LABEL_CHAINLET, ""): c
                    for c in engine.containers({names.LABEL_CHAIN: plan.chain_name})}
        entry_port = _entrypoint_port(record, existing.get(plan.entrypoint))
        chain_dir.write_record(ChainRecord(entrypoint_port=entry_port, environment=plan.environment))
        key, token = chain_dir.fingerprint_key(), chain_dir.chain_token()
        started: dict[str, ContainerInfo] = {}
        keep_dirs: set[pathlib.Path] = set()
        for spec in plan.chainlets:
            image_ref, image_id = images[spec.name]
            owner = engine.image_user(image_ref)
            chainlet_values = {k: values[k] for k in spec.secret_keys}
            contract = names.contract(plan, spec, labels, entrypoint_port=entry_port)
            fingerprint = names.fingerprint(key, image_id, contract, chainlet_values, token, owner,
                                            names.healthcheck(spec.deployment.health_checks))
            run_dir = chain_dir.write_run_dir(spec.name, token, chainlet_values, owner)
            keep_dirs.add(run_dir)
            old = existing.pop(spec.name, None)
            if (old is not None and old.labels.get(names.LABEL_FINGERPRINT) == fingerprint
                    and old.state in ("running", "restarting")):
                progress.set(spec.name, "ready", changed=False, port=old.host_port)
                continue
            if old is not None:
                engine.remove(old.id)
            self._check_foreign(engine, labels[spec.name], plan.chain_name)
            contract = contract.model_copy(update={"instance_id": uuid.uuid4().hex})
            if contract.assets:
                self._fetch_assets(plan, spec, labels, image_ref, owner, run_dir, contract, chain_dir, progress)
            container = names.container_spec(
                plan, spec, labels, image=image_ref, contract_=contract, fingerprint_=fingerprint,
                run_dir=str(run_dir),
                host_port=entry_port if spec.name == plan.entrypoint else None,
            )
            if spec.name == plan.entrypoint:
                _check_port_free(entry_port, plan.chain_name)
            progress.set(spec.name, "starting")
            started[spec.name] = engine.run(container)
        for gone in existing.values():  # chainlets the new plan no longer has
            engine.remove(gone.id)
        for spec_name, info in started.items():
            self._wait_ready(plan.chain_name, spec_name, info, ready_timeout_sec, progress)
        chain_dir.collect_run_dirs(keep_dirs)

    def _fetch_assets(
        self, plan: ChainPlan, spec: ChainletSpec, labels: Mapping[str, str], image: str,
        owner: tuple[int, int], run_dir: pathlib.Path, contract: RuntimeContract,
        chain_dir: DockerChainDir, progress: _Progress,
    ) -> None:
        """Fill the chain's assets volume for ``spec`` with a one-off container of its image
        (entries already there return at once), so the chainlet starts with its files."""
        engine = self.engine
        if engine.ensure_volume(names.assets_volume(plan.chain_name), {names.LABEL_CHAIN: plan.chain_name}):
            chown = names.chown_spec(plan, spec, labels, image=image, user=owner)
            code, lines = engine.run_to_completion(chown, timeout_sec=120)
            if code != 0:
                raise DeploymentError(_one_off_failure(spec.name, plan.chain_name, "preparing the "
                                                       "assets volume", code, lines))
        items = chain_dir.path / "assets" / f"{spec.name}-{spec.deployment_hash[:16]}.json"
        items.parent.mkdir(parents=True, exist_ok=True)
        items.write_text(names.items_json(contract))
        items.chmod(0o644)  # read by the image's user; names only, no secret
        progress.set(spec.name, "starting", message="fetching assets")
        fetch = names.fetch_spec(
            plan, spec, labels, image=image, python=ChainletLayout.in_image(spec.image).python_executable,
            run_dir=str(run_dir), items_file=str(items), user=owner,
        )
        engine.remove(fetch.name, stop_timeout_sec=0)  # one left by an interrupted push
        code, lines = engine.run_to_completion(fetch, timeout_sec=ASSET_FETCH_TIMEOUT_SEC)
        if code != 0:
            message = _one_off_failure(spec.name, plan.chain_name, "fetching its assets", code, lines)
            progress.set(spec.name, "failed", message=message)
            raise DeploymentError(message)

    def _build(self, plan: ChainPlan, spec: ChainletSpec, label: str,
               progress: _Progress) -> tuple[str, str]:
        """The image reference and id of ``spec``'s image, built unless its tag exists."""
        engine = self.engine
        reference = names.image_reference(label, spec)
        image_id = engine.image_id(reference)
        if image_id is not None:
            return reference, image_id
        progress.set(spec.name, "building")
        try:
            engine.ensure_base_image(spec.image.base_image)
            with tempfile.TemporaryDirectory(prefix=f"infra-chains-{label}-") as tmp:
                context = write_build_context(plan, spec, pathlib.Path(tmp) / "context")
                image_id = engine.build(
                    str(context.directory), reference, network=self._build_network,
                    build_args=self._build_args,
                    on_line=lambda line: progress.set(spec.name, "building", message=line),
                )
        except (BaseImageMissingError, BuildFailedError) as exc:
            progress.set(spec.name, "failed", message=str(exc).splitlines()[0])
            # The same class, so callers can tell the two apart; the message names the chainlet.
            raise type(exc)(f"Chainlet {spec.name!r} of chain {plan.chain_name!r}: {exc}") from exc
        return reference, image_id

    def _wait_ready(self, chain_name: str, chainlet: str, info: ContainerInfo,
                    timeout_sec: float, progress: _Progress) -> None:
        engine = self.engine
        instance = info.labels.get(names.LABEL_INSTANCE) or None

        def alive() -> bool:
            now = engine.container(info.id)
            return now is not None and now.state in ("running", "created") and now.restart_count == 0

        if info.host_port is None:
            raise DeploymentError(f"Container {info.name!r} has no published port.")
        readiness = probe.wait_ready("127.0.0.1", info.host_port, timeout_sec=timeout_sec,
                                     instance_id=instance, is_alive=alive, interval_sec=_POLL_SEC)
        if readiness.ready:
            progress.set(chainlet, "ready", port=info.host_port)
            return
        engine.stop(info.id, stop_timeout_sec=5)  # no restart loop; its logs stay for `logs`
        progress.set(chainlet, "failed", message=readiness.describe())
        tail = "\n".join(f"  | {line}" for line in engine.logs(info.id, tail=LOG_TAIL_LINES, follow=False))
        raise DeploymentError(
            f"Chainlet {chainlet!r} of chain {chain_name!r} (container {info.name!r}) "
            f"{readiness.describe()}.\nLast lines of its log:\n{tail or '  (log is empty)'}"
        )

    @staticmethod
    def _check_gpus(plan: ChainPlan, engine: Engine) -> None:
        wanting = [s.name for s in plan.chainlets if s.compute.gpu and s.compute.gpu_count]
        if wanting and "nvidia" not in engine.runtimes():
            raise DeploymentError(
                f"Chainlet(s) {', '.join(wanting)} of chain {plan.chain_name!r} ask for a GPU, but "
                f"the Docker engine has no NVIDIA runtime (it offers: {', '.join(engine.runtimes()) or 'none'}). "
                "Install the NVIDIA Container Toolkit on the engine's machine and run "
                "`nvidia-ctk runtime configure --runtime=docker`, then restart the engine; or "
                "deploy those chainlets without a GPU."
            )

    @staticmethod
    def _check_foreign(engine: Engine, container_name: str, chain_name: str) -> None:
        other = engine.container(container_name)
        if other is not None and other.labels.get(names.LABEL_CHAIN) != chain_name:
            raise DeploymentError(
                f"A container named {container_name!r} exists on the Docker engine and is not "
                f"part of chain {chain_name!r}; remove or rename it, or choose another chain name."
            )

    # -- the rest ----------------------------------------------------------------------------
    def _containers(self, chain_name: str) -> list[ContainerInfo]:
        validate_chain_name(chain_name)
        found = self.engine.containers({names.LABEL_CHAIN: chain_name})
        if not found:
            known = ", ".join(self.chains()) or "none"
            raise ChainsUsageError(
                f"No chain named {chain_name!r} is deployed on the Docker engine (deployed: {known})."
            )
        return sorted(found, key=lambda c: c.name)

    def service(self, chain_name: str) -> DockerChainService:
        self._containers(chain_name)
        return DockerChainService(self, chain_name)

    def status(self, chain_name: str) -> ChainStatus:
        found = self._containers(chain_name)
        chainlets = [_chainlet_info(c) for c in found]
        entry = next((c for c in chainlets if c.is_entrypoint), None)
        environment = found[0].labels.get(names.LABEL_ENVIRONMENT) or None
        return ChainStatus(
            name=chain_name, target=self.name, environment=environment,
            entrypoint=entry.name if entry else "",
            entrypoint_url=entry.url if entry else None,
            chainlets=chainlets,
        )

    def logs(
        self,
        chain_name: str,
        chainlet: str | None = None,
        *,
        follow: bool = False,
        lines: int = 50,
    ) -> Iterator[LogLine]:
        by_name = {c.labels.get(names.LABEL_CHAINLET, c.name): c for c in self._containers(chain_name)}
        return self._log_lines(select_log_sources(chain_name, by_name, chainlet, lines), lines, follow)

    def _log_lines(self, containers: Mapping[str, ContainerInfo], lines: int, follow: bool) -> Iterator[LogLine]:
        engine = self.engine
        if not follow:
            for name, info in containers.items():
                for text in engine.logs(info.id, tail=lines, follow=False):
                    yield LogLine(chainlet=name, text=text)
            return
        merged: queue.Queue[LogLine | None] = queue.Queue(maxsize=10_000)

        def pump(name: str, info: ContainerInfo) -> None:
            try:
                for text in engine.logs(info.id, tail=lines, follow=True):
                    merged.put(LogLine(chainlet=name, text=text))
            finally:
                merged.put(None)

        for name, info in containers.items():
            threading.Thread(target=pump, args=(name, info), daemon=True).start()
        open_streams = len(containers)
        while open_streams:
            item = merged.get()
            if item is None:
                open_streams -= 1
            else:
                yield item

    def down(self, chain_name: str) -> bool:
        chain_dir = self._dir(chain_name)
        engine = self.engine
        had = bool(engine.containers({names.LABEL_CHAIN: chain_dir.name})) or chain_dir.exists() or bool(
            engine.networks({names.LABEL_CHAIN: chain_dir.name})) or bool(
            engine.volumes({names.LABEL_CHAIN: chain_dir.name}))
        if not had:
            return False
        with chain_dir.locked():
            self._remove_all(chain_dir)
        return True

    def _remove_all(self, chain_dir: DockerChainDir) -> None:
        engine = self.engine
        for info in engine.containers({names.LABEL_CHAIN: chain_dir.name}):
            engine.remove(info.id)
        for network in engine.networks({names.LABEL_CHAIN: chain_dir.name}):
            engine.remove_network(network)
        for volume in engine.volumes({names.LABEL_CHAIN: chain_dir.name}):
            engine.remove_volume(volume)
        chain_dir.remove()

    def chains(self) -> list[str]:
        found = {c.labels.get(names.LABEL_CHAIN, "") for c in self.engine.containers({names.LABEL_CHAIN: None})}
        return sorted(name for name in found if is_valid_chain_name(name))


class _Progress:
    """Per-chainlet deploy phases (building / starting / ready / failed) for the progress callback."""

    def __init__(self, plan: ChainPlan, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._rows = {s.name: ChainletProgress(name=s.name, status="pending") for s in plan.chainlets}

    def set(self, name: str, status: str, *, changed: bool = True, message: str | None = None,
            port: int | None = None) -> None:
        update: dict[str, object] = {"status": status, "changed": changed, "message": message}
        if port is not None:
            update["url"] = predict_url(f"http://127.0.0.1:{port}")
        self._rows[name] = self._rows[name].model_copy(update=update)
        if self._callback is not None:
            self._callback(list(self._rows.values()))


def _one_off_failure(chainlet: str, chain: str, what: str, code: int, lines: list[str]) -> str:
    tail = "\n".join(f"  | {line}" for line in lines[-LOG_TAIL_LINES:]) or "  (log is empty)"
    return (f"Chainlet {chainlet!r} of chain {chain!r}: {what} failed (exit code {code}); "
            f"the chainlet was not started.\nLast lines of its log:\n{tail}")


def _entrypoint_port(record: ChainRecord, current: ContainerInfo | None) -> int:
    """The entrypoint's host port: the running one's, the remembered one, else a free one."""
    if current is not None and current.host_port is not None:
        return current.host_port
    if record.entrypoint_port is not None:
        return record.entrypoint_port
    return choose_ports(1)[0]


def _check_port_free(port: int, chain_name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # only a listener is "in use"
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(
                f"The entrypoint port 127.0.0.1:{port} of chain {chain_name!r} is in use by another "
                f"program ({exc.strerror}). Stop that program, or take the chain down and push it "
                "again to get a new port."
            ) from exc


def _chainlet_info(info: ContainerInfo) -> ChainletInfo:
    status: ChainletStatus
    message: str | None = None
    if info.state == "running":
        result = (probe.probe("127.0.0.1", info.host_port, timeout_sec=1.0,
                              instance_id=info.labels.get(names.LABEL_INSTANCE) or None)
                  if info.host_port else None)
        status = "ready" if result is not None and result.ok else "starting"
        if status == "starting" and result is not None:
            message = result.detail
    elif info.state == "restarting":
        status, message = "restarting", f"exited with code {info.exit_code}; the engine restarts it"
    elif info.state in ("created",):
        status = "starting"
    elif info.state in ("exited", "dead"):
        status = "failed" if info.exit_code not in (0, 137, 143) else "stopped"
        message = f"exited with code {info.exit_code}" + (f": {info.error}" if info.error else "")
    else:
        status = "unknown"
    url = f"http://127.0.0.1:{info.host_port}" if info.host_port else None
    return ChainletInfo(
        name=info.labels.get(names.LABEL_CHAINLET, info.name),
        status=status,
        is_entrypoint=info.labels.get(names.LABEL_ENTRYPOINT) == "true",
        url=predict_url(url) if url else None,
        restarts=info.restart_count,
        content_hash=info.labels.get(names.LABEL_HASH, "")[:12],
        message=message,
        port=info.host_port,
    )
