"""Plan -> what the engine is asked for: image references, names, labels, contracts, limits, mounts.

Pure functions (no engine, no files), so every choice is unit-tested without Docker:

- image ``infra-chains/<chainlet label>:<image hash[:20]>``: the tag is the image part's hash, so
  an image whose tag exists is never rebuilt and a deployment-only change reuses it;
- one bridge network per chain, ``infra-chains-<chain>``; each container is named by its chainlet's
  DNS label (`plan/names.py`) and has it as its network alias, so the URLs in dependents'
  contracts are ``http://<label>:8080``;
- each container publishes its port on 127.0.0.1: the entrypoint on a port kept across pushes,
  the others on one the engine picks (the target probes readiness there, as the local target does);
- secrets and the chain token are files in one read-only bind mount at ``/run/infra-chains``
  (never an environment variable, so never in ``docker inspect``);
- a chainlet's ``health_checks`` set its container's health check numbers (`healthcheck`);
  unset, the image's ``HEALTHCHECK`` applies as built;
- assets (docs/assets.md): one named volume per chain, ``infra-chains-<chain>-assets``, holds the
  fetcher's cache; a one-off container of the chainlet's image (`fetch_spec`) fills it before
  the chainlet starts, and the chainlet mounts each cache entry read-only at the path it reads
  (a volume ``subpath``; `DockerEngine` binds it from the volume's directory on older engines).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pathlib
from collections.abc import Mapping

from infra_chains.build.dockerfile import HEALTHCHECK_LIVENESS, HEALTHCHECK_START_PERIOD_SEC
from infra_chains.build.layout import ChainletLayout
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.plan.names import chainlet_labels
from infra_chains.remote_config import HealthChecks
from infra_chains.serving.health import health_policy
from infra_chains.serving.contract import CONTRACT_JSON_ENV, RuntimeContract
from infra_chains.targets.access import CHAIN_TOKEN_FILE, loopback_hosts, with_chain_access
from infra_chains.targets.contracts import AssetDirs, asset_sub_path, runtime_contract
from infra_chains.targets.docker.engine import ContainerSpec, Healthcheck, Mount

#: The port every chainlet listens on inside its container (each has its own network namespace).
CONTAINER_PORT = 8080
IMAGE_REPOSITORY = "infra-chains"
IMAGE_TAG_CHARS = 20
#: Read-only mount holding the chain token and the chainlet's secrets (one file each).
RUN_DIR = "/run/infra-chains"
SECRETS_DIR = f"{RUN_DIR}/secrets"

#: The fetcher's cache inside a container: the chain's assets volume.
ASSET_CACHE_DIR = "/var/cache/infra-chains/assets"
#: The fetch container's items file (bind-mounted read-only; names only, no secret).
ASSET_ITEMS_PATH = "/etc/infra-chains/assets.json"

LABEL_CHAIN = "infra-chains.chain"
LABEL_CHAINLET = "infra-chains.chainlet"
LABEL_HASH = "infra-chains.hash"
LABEL_IMAGE = "infra-chains.image"
LABEL_FINGERPRINT = "infra-chains.fingerprint"
LABEL_INSTANCE = "infra-chains.instance"
LABEL_ENTRYPOINT = "infra-chains.entrypoint"
LABEL_ENVIRONMENT = "infra-chains.environment"


def network_name(chain_name: str) -> str:
    return f"infra-chains-{chain_name}"


def assets_volume(chain_name: str) -> str:
    return f"infra-chains-{chain_name}-assets"


def image_reference(label: str, spec: ChainletSpec) -> str:
    return f"{IMAGE_REPOSITORY}/{label}:{spec.image_hash[:IMAGE_TAG_CHARS]}"


def labels_of(plan: ChainPlan) -> dict[str, str]:
    """Chainlet name -> its DNS label (container name, network alias, URL host)."""
    return chainlet_labels(plan.chain_name, [spec.name for spec in plan.chainlets])


def contract(
    plan: ChainPlan, spec: ChainletSpec, labels: Mapping[str, str], *, entrypoint_port: int
) -> RuntimeContract:
    """``spec``'s contract inside its container, dependencies at their network aliases.

    The entrypoint accepts the Host names it is called by on the host (127.0.0.1:<its port>);
    the others only their own network name, with the chain token.
    """
    base_urls = {dep.name: f"http://{labels[dep.name]}:{CONTAINER_PORT}" for dep in spec.dependencies}
    made = runtime_contract(
        plan, spec, ChainletLayout.in_image(spec.image), base_urls=base_urls, port=CONTAINER_PORT,
        host="0.0.0.0", secrets_dir=pathlib.Path(SECRETS_DIR) if spec.secret_keys else None,
        assets=AssetDirs(pathlib.Path(ASSET_CACHE_DIR), in_place=True),
    )
    is_entrypoint = spec.name == plan.entrypoint
    hosts = loopback_hosts(entrypoint_port) if is_entrypoint else [labels[spec.name]]
    return with_chain_access(
        made, entrypoint=is_entrypoint, token_file=pathlib.Path(RUN_DIR) / CHAIN_TOKEN_FILE,
        allowed_hosts=hosts,
    )


def fingerprint(
    key: bytes, image_id: str, contract_: RuntimeContract, secrets: Mapping[str, str], token: str,
    owner: tuple[int, int], healthcheck_: Healthcheck | None = None,
) -> str:
    """What decides whether a running container is replaced: its image, contract, secrets and
    health check numbers (`healthcheck`; None, the image's, leaves the fingerprint as it was).

    Keyed (HMAC), so the label it is stored in reveals nothing about a secret's value.
    """
    digest = hmac.new(key, digestmod=hashlib.sha256)
    digest.update(image_id.encode())
    digest.update(contract_.model_copy(update={"instance_id": None}).model_dump_json().encode())
    digest.update(f"\0token\0{token}\0owner\0{owner[0]}:{owner[1]}".encode())
    for name in sorted(secrets):
        digest.update(f"\0{name}\0{secrets[name]}".encode())
    if healthcheck_ is not None:
        digest.update(f"\0healthcheck\0{healthcheck_.model_dump_json()}".encode())
    return digest.hexdigest()[:32]


def container_spec(
    plan: ChainPlan,
    spec: ChainletSpec,
    labels: Mapping[str, str],
    *,
    image: str,
    contract_: RuntimeContract,
    fingerprint_: str,
    run_dir: str,
    host_port: int | None,
) -> ContainerSpec:
    """The container of ``spec``: ``run_dir`` (host) is mounted read-only at `RUN_DIR`."""
    compute = spec.compute
    return ContainerSpec(
        name=labels[spec.name],
        image=image,
        labels={
            LABEL_CHAIN: plan.chain_name,
            LABEL_CHAINLET: spec.name,
            LABEL_HASH: spec.content_hash,
            LABEL_IMAGE: image,
            LABEL_FINGERPRINT: fingerprint_,
            LABEL_INSTANCE: contract_.instance_id or "",
            LABEL_ENTRYPOINT: "true" if spec.name == plan.entrypoint else "false",
            LABEL_ENVIRONMENT: plan.environment or "",
        },
        environment={CONTRACT_JSON_ENV: contract_.model_dump_json()},
        network=network_name(plan.chain_name),
        aliases=[labels[spec.name]],
        container_port=CONTAINER_PORT,
        host_port=host_port,
        mounts=[
            Mount(source=run_dir, target=RUN_DIR, read_only=True),
            *(Mount(source=assets_volume(plan.chain_name), target=str(m.path), type="volume",
                    subpath=asset_sub_path(m)) for m in contract_.assets),
        ],
        nano_cpus=compute.cpu_count * 1_000_000_000 if compute.cpu_count else None,
        mem_limit_bytes=compute.memory_bytes or None,
        gpu_count=compute.gpu_count if compute.gpu else 0,
        stop_timeout_sec=int(contract_.graceful_shutdown_sec) + 5,
        healthcheck=healthcheck(spec.deployment.health_checks),
    )


def healthcheck(health_checks: HealthChecks) -> Healthcheck | None:
    """The image's ``HEALTHCHECK`` numbers with ``health_checks`` applied; None when unset.

    ``restart_threshold_seconds`` sets the retries at the image's interval; the start period
    (failures in it do not count) grows to ``startup_threshold_seconds`` or
    ``restart_check_delay_seconds`` when longer. (The engine only marks a container unhealthy;
    ``stop_traffic_threshold_seconds`` has no Docker counterpart.)
    """
    if health_checks == HealthChecks():
        return None
    policy = health_policy(health_checks, liveness=HEALTHCHECK_LIVENESS)
    return Healthcheck(
        interval_sec=policy.liveness.period_sec,
        timeout_sec=policy.liveness.timeout_sec,
        retries=policy.liveness.failure_threshold,
        start_period_sec=max(float(HEALTHCHECK_START_PERIOD_SEC), policy.startup_sec or 0.0,
                             policy.liveness_delay_sec),
    )


def items_json(contract_: RuntimeContract) -> str:
    """The fetch container's items file: what to fetch (the contract's assets, no secret)."""
    return json.dumps([m.item.model_dump(mode="json", exclude_none=True) for m in contract_.assets], indent=2)


def fetch_spec(
    plan: ChainPlan, spec: ChainletSpec, labels: Mapping[str, str], *, image: str,
    python: str, run_dir: str, items_file: str, user: tuple[int, int],
) -> ContainerSpec:
    """A one-off container of ``spec``'s image running ``python -m infra_chains.fetch`` into the
    chain's assets volume, as the image's user, with the chainlet's secrets (its credentials)."""
    command = [python, "-m", "infra_chains.fetch", "--items", ASSET_ITEMS_PATH,
               "--cache-root", ASSET_CACHE_DIR]
    if spec.secret_keys:
        command += ["--secrets-dir", SECRETS_DIR]
    return _one_off(plan, f"{labels[spec.name]}-fetch", image, command, f"{user[0]}:{user[1]}", [
        Mount(source=run_dir, target=RUN_DIR, read_only=True),
        Mount(source=items_file, target=ASSET_ITEMS_PATH, read_only=True),
        Mount(source=assets_volume(plan.chain_name), target=ASSET_CACHE_DIR, type="volume", read_only=False),
    ], spec)


def chown_spec(plan: ChainPlan, spec: ChainletSpec, labels: Mapping[str, str], *, image: str,
               user: tuple[int, int]) -> ContainerSpec:
    """Once, when the volume is new (the engine makes it root's): give it to the image's user."""
    mount = Mount(source=assets_volume(plan.chain_name), target=ASSET_CACHE_DIR, type="volume",
                  read_only=False)
    made = _one_off(plan, f"{labels[spec.name]}-chown", image, ["chown", f"{user[0]}:{user[1]}",
                    ASSET_CACHE_DIR], "0:0", [mount], spec)
    return made.model_copy(update={"cap_add": ["CHOWN"]})


def _one_off(plan: ChainPlan, name: str, image: str, command: list[str], user: str,
             mounts: list[Mount], spec: ChainletSpec) -> ContainerSpec:
    return ContainerSpec(
        name=name, image=image, labels={LABEL_CHAIN: plan.chain_name}, environment={},
        network=network_name(plan.chain_name), aliases=[], container_port=None, mounts=mounts,
        mem_limit_bytes=spec.compute.memory_bytes or None, restart_policy="no", command=command,
        user=user, cap_drop=["ALL"], security_opt=["no-new-privileges"],
    )
