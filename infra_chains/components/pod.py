"""ChainletSpec + stack settings -> the Kubernetes fields of one chainlet: names, labels, the pod.

Pure functions (no Pulumi resources), so every choice is one readable place:

- names: every object of a chainlet is named by its DNS label (`plan/names.py`); its in-cluster
  URL is ``http://<label>.<namespace>.svc.cluster.local:8080``, known before anything exists, so
  dependents are wired by name and every chainlet rolls out in parallel;
- the pod runs the image's ``CMD`` (``python -m infra_chains.serve``) as uid 10001 on a read-only
  root filesystem, with the contract (a ConfigMap), the chain token and its own secrets mounted
  read-only as files, never as environment variables;
- probes mirror the local supervisor: ``/readyz`` gates traffic, ``/healthz`` restarts a hung
  process, a startup probe on ``/readyz`` allows ``startup_timeout_sec`` for model loads; the
  chainlet's ``health_checks`` set their thresholds (`serving.health.health_policy`);
- a GPU chainlet rolls out with ``maxSurge: 0`` (an update never needs twice the GPUs), a CPU one
  with ``maxUnavailable: 0`` (no capacity dip);
- assets (docs/assets.md) are fetched by an init container running ``python -m
  infra_chains.fetch`` on the chainlet's own image into the ``assets`` volume (an emptyDir, or a
  claim when the stack names a storage class); the serving container mounts each cache entry
  read-only at the path the chainlet reads (``subPath``), so it starts with the files present.

Dicts are pulumi-kubernetes' input dicts (snake_case keys; Pulumi sends them camelCase).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from infra_chains.build.dockerfile import USER_ID, USER_NAME
from infra_chains.components.gpu import GpuScheduling
from infra_chains.plan.models import ChainletSpec, ComputeSpec
from infra_chains.plan.names import kebab
from infra_chains.remote_config import HealthChecks
from infra_chains.serving.contract import CONTRACT_FILE_ENV, AssetMount
from infra_chains.serving.health import HealthPolicy, health_policy
from infra_chains.targets.contracts import asset_sub_path

if TYPE_CHECKING:
    import pulumi

#: The port every chainlet listens on in its pod, and its Service's port.
PORT = 8080
PORT_NAME = "http"
CONTAINER_NAME = "chainlet"
CONTRACT_DIR = "/etc/infra-chains"
CONTRACT_KEY = "contract.json"
RUN_DIR = "/var/run/infra-chains"
#: The chainlet's own secrets, one file per key (the contract's ``secrets_dir``).
SECRETS_DIR = f"{RUN_DIR}/secrets"
#: The chain token (the chain-level Secret); its file is the contract's ``chain_token_file``.
TOKEN_DIR = f"{RUN_DIR}/chain"
#: Owner read, group read (the pod's fsGroup is the chainlet's group): 0440.
SECRET_FILE_MODE = 0o440
#: Seconds a pod gets beyond the runtime's own drain bound before it is killed.
TERMINATION_MARGIN_SEC = 15
#: Assets: the fetcher's cache (the `assets` volume), the items file (a contract ConfigMap key).
ASSET_CACHE_DIR = "/var/cache/infra-chains/assets"
ASSETS_VOLUME = "assets"
ASSET_ITEMS_KEY = "assets.json"
FETCH_CONTAINER_NAME = "fetch-assets"
STARTUP_PERIOD_SEC = 5
LABEL_VALUE_MAX = 63


def service_dns(label: str, namespace: str) -> str:
    return f"{label}.{namespace}.svc.cluster.local"


def service_url(label: str, namespace: str) -> str:
    """The in-cluster base URL of a chainlet's Service, made from names alone."""
    return f"http://{service_dns(label, namespace)}:{PORT}"


def service_hosts(label: str, namespace: str) -> list[str]:
    """Every in-cluster name a caller may use for the Service (any port): its Host headers."""
    return [label, f"{label}.{namespace}", f"{label}.{namespace}.svc", service_dns(label, namespace)]


def _label_value(text: str) -> str:
    return text[:LABEL_VALUE_MAX].strip("-_.") or "chainlet"


def selector_labels(chain_name: str, label: str) -> dict[str, str]:
    """What a Deployment selects and a Service routes to (immutable once created: names only)."""
    return {"app.kubernetes.io/instance": label, "app.kubernetes.io/part-of": chain_name}


def object_labels(chain_name: str, label: str, spec: ChainletSpec) -> dict[str, str]:
    """The recommended labels of every object of a chainlet; ``version`` is its image tag's start
    (a scale-only change keeps it, so it never rolls pods by itself)."""
    return {
        "app.kubernetes.io/name": _label_value(kebab(spec.name)),
        **selector_labels(chain_name, label),
        "app.kubernetes.io/version": spec.image_hash[:12],
        "app.kubernetes.io/component": "entrypoint" if spec.is_entrypoint else "chainlet",
        "app.kubernetes.io/managed-by": "infra-chains",
    }


def resources(compute: ComputeSpec) -> dict[str, dict[str, str]]:
    """Requests = limits (Guaranteed QoS: a model server is never the first evicted); GPUs only
    as limits, which Kubernetes copies to requests."""
    amount = {"cpu": str(compute.cpu_count), "memory": str(compute.memory_bytes)}
    limits = dict(amount)
    if compute.gpu is not None and compute.gpu_count > 0:
        limits["nvidia.com/gpu"] = str(compute.gpu_count)
    return {"requests": amount, "limits": limits}


def uses_gpu(compute: ComputeSpec) -> bool:
    return compute.gpu is not None and compute.gpu_count > 0


def rollout_strategy(compute: ComputeSpec) -> dict[str, Any]:
    if uses_gpu(compute):
        update = {"max_surge": 0, "max_unavailable": 1}
    else:
        update = {"max_surge": 1, "max_unavailable": 0}
    return {"type": "RollingUpdate", "rolling_update": update}


def _http_probe(path: str, period: float, timeout: float, failures: int) -> dict[str, Any]:
    return {
        "http_get": {"path": path, "port": PORT_NAME},
        "period_seconds": max(1, math.ceil(period)),
        "timeout_seconds": max(1, math.ceil(timeout)),
        "failure_threshold": failures,
    }


def startup_budget_sec(startup_timeout_sec: int, policy: HealthPolicy) -> int:
    """The stack's ``startup_timeout_sec``, or the chainlet's ``startup_threshold_seconds`` when
    that is longer (a chainlet never gets less than the stack allows)."""
    return max(startup_timeout_sec, math.ceil(policy.startup_sec or 0))


def probes(startup_timeout_sec: int, policy: HealthPolicy | None = None) -> dict[str, Any]:
    """readiness, liveness (the local supervisor's numbers, both as ``policy`` sets them) and a
    startup probe on ``/readyz`` lasting `startup_budget_sec`: liveness starts only once
    ``__init__`` is done (and ``policy.liveness_delay_sec`` after the container started)."""
    policy = policy or health_policy(HealthChecks())
    live, ready = policy.liveness, policy.readiness
    liveness = _http_probe("/healthz", live.period_sec, live.timeout_sec, live.failure_threshold)
    if policy.liveness_delay_sec:
        liveness["initial_delay_seconds"] = math.ceil(policy.liveness_delay_sec)
    budget = startup_budget_sec(startup_timeout_sec, policy)
    return {
        "readiness_probe": _http_probe("/readyz", ready.period_sec, ready.timeout_sec, ready.failure_threshold),
        "liveness_probe": liveness,
        "startup_probe": _http_probe(
            "/readyz", STARTUP_PERIOD_SEC, 1, max(1, math.ceil(budget / STARTUP_PERIOD_SEC))
        ),
    }


def container_security() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": USER_ID,
        "run_as_group": USER_ID,
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def pod_security() -> dict[str, Any]:
    return {
        "run_as_non_root": True,
        "run_as_user": USER_ID,
        "run_as_group": USER_ID,
        "fs_group": USER_ID,
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


@dataclasses.dataclass(frozen=True)
class PodAssets:
    """A chainlet's assets in its pod: what to mount where, how to run the fetcher, the volume."""

    mounts: Sequence[AssetMount]
    python: str
    #: The PersistentVolumeClaim's name; None for an emptyDir of `size`.
    claim_name: pulumi.Input[str] | None
    size: str


def _asset_volume(assets: PodAssets) -> dict[str, Any]:
    if assets.claim_name is not None:
        return {"name": ASSETS_VOLUME, "persistent_volume_claim": {"claim_name": assets.claim_name}}
    return {"name": ASSETS_VOLUME, "empty_dir": {"size_limit": assets.size}}


def fetch_container(
    assets: PodAssets, *, image: pulumi.Input[str], pull_policy: str, compute: ComputeSpec,
    has_secrets: bool,
) -> dict[str, Any]:
    """The init container: ``python -m infra_chains.fetch`` on the chainlet's image, writing the
    volume; on failure its last log lines (the asset and its source's answer) are the pod's
    termination message."""
    command = [assets.python, "-m", "infra_chains.fetch", "--items", f"{CONTRACT_DIR}/{ASSET_ITEMS_KEY}",
               "--cache-root", ASSET_CACHE_DIR]
    mounts: list[dict[str, Any]] = [
        {"name": "contract", "mount_path": CONTRACT_DIR, "read_only": True},
        {"name": ASSETS_VOLUME, "mount_path": ASSET_CACHE_DIR},
        {"name": "tmp", "mount_path": "/tmp"},
        {"name": "home", "mount_path": f"/home/{USER_NAME}"},
    ]
    if has_secrets:  # credentials come from the chainlet's declared secrets only
        command += ["--secrets-dir", SECRETS_DIR]
        mounts.append({"name": "secrets", "mount_path": SECRETS_DIR, "read_only": True})
    amount = {"cpu": str(compute.cpu_count), "memory": str(compute.memory_bytes)}
    return {
        "name": FETCH_CONTAINER_NAME,
        "image": image,
        "image_pull_policy": pull_policy,
        "command": command,
        "resources": {"requests": amount, "limits": dict(amount)},
        "security_context": container_security(),
        "volume_mounts": mounts,
        "termination_message_policy": "FallbackToLogsOnError",
    }


def asset_volume_mounts(assets: PodAssets) -> list[dict[str, Any]]:
    """The serving container's view: each asset read-only at its path (`asset_sub_path`)."""
    return [
        {"name": ASSETS_VOLUME, "mount_path": str(m.path), "sub_path": asset_sub_path(m), "read_only": True}
        for m in assets.mounts
    ]


def pod_spec(
    *,
    image: pulumi.Input[str],
    pull_policy: str,
    compute: ComputeSpec,
    scheduling: GpuScheduling,
    contract_config_map: pulumi.Input[str],
    secret_name: pulumi.Input[str] | None,
    token_secret_name: pulumi.Input[str],
    startup_timeout_sec: int,
    graceful_shutdown_sec: float,
    assets: PodAssets | None = None,
    health: HealthPolicy | None = None,
) -> dict[str, Any]:
    """The pod of one chainlet (see the module docstring)."""
    mounts: list[dict[str, Any]] = [
        {"name": "contract", "mount_path": CONTRACT_DIR, "read_only": True},
        {"name": "chain-token", "mount_path": TOKEN_DIR, "read_only": True},
        # The root filesystem is read-only: scratch space and the user's caches (HF_HOME...).
        {"name": "tmp", "mount_path": "/tmp"},
        {"name": "home", "mount_path": f"/home/{USER_NAME}"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "contract", "config_map": {"name": contract_config_map}},
        {"name": "chain-token",
         "secret": {"secret_name": token_secret_name, "default_mode": SECRET_FILE_MODE}},
        {"name": "tmp", "empty_dir": {}},
        {"name": "home", "empty_dir": {}},
    ]
    if secret_name is not None:
        mounts.append({"name": "secrets", "mount_path": SECRETS_DIR, "read_only": True})
        volumes.append({"name": "secrets",
                        "secret": {"secret_name": secret_name, "default_mode": SECRET_FILE_MODE}})
    if assets is not None:
        mounts.extend(asset_volume_mounts(assets))
        volumes.append(_asset_volume(assets))
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "image_pull_policy": pull_policy,
        "env": [{"name": CONTRACT_FILE_ENV, "value": f"{CONTRACT_DIR}/{CONTRACT_KEY}"}],
        "ports": [{"name": PORT_NAME, "container_port": PORT, "protocol": "TCP"}],
        "resources": resources(compute),
        "security_context": container_security(),
        "volume_mounts": mounts,
        **probes(startup_timeout_sec, health),
    }
    spec: dict[str, Any] = {
        "containers": [container],
        "volumes": volumes,
        "security_context": pod_security(),
        # A chainlet never talks to the Kubernetes API: no token in the pod.
        "automount_service_account_token": False,
        # No `<SERVICE>_PORT` variables from every Service of the namespace in the environment.
        "enable_service_links": False,
        "termination_grace_period_seconds": math.ceil(graceful_shutdown_sec) + TERMINATION_MARGIN_SEC,
    }
    if assets is not None:
        spec["init_containers"] = [fetch_container(
            assets, image=image, pull_policy=pull_policy, compute=compute,
            has_secrets=secret_name is not None,
        )]
    if scheduling.node_selector:
        spec["node_selector"] = dict(scheduling.node_selector)
    if scheduling.tolerations:
        spec["tolerations"] = [t.model_dump(exclude_none=True) for t in scheduling.tolerations]
    return spec


def replica_count(spec: ChainletSpec, replicas: Mapping[str, int]) -> int:
    """The stack's count for this chainlet, else its RemoteConfig's."""
    return replicas.get(spec.name, spec.replicas)


def allowed_entrypoint_hosts(
    hosts: Sequence[str], exposure: str, ingress_host: str | None
) -> list[str] | None:
    """Host names the entrypoint accepts: its Service's, ``kubectl port-forward``'s, the Ingress
    host. A load balancer's address is not known ahead, so it accepts any Host then."""
    if exposure == "load-balancer":
        return None
    extra = [ingress_host] if exposure == "ingress" and ingress_host else []
    return [*hosts, "localhost", "127.0.0.1", *extra]


def network_policy(chain_name: str, label: str, *, entrypoint: bool) -> dict[str, Any]:
    """Ingress to a chainlet's port: from any pod of its chain, or from anywhere for the
    entrypoint. (Kubelet probes come from the node, which policies do not restrict.)"""
    port = {"port": PORT, "protocol": "TCP"}
    source: dict[str, Any] = {"ports": [port]}
    if not entrypoint:
        source["from"] = [{"pod_selector": {"match_labels": {"app.kubernetes.io/part-of": chain_name}}}]
    return {
        "pod_selector": {"match_labels": selector_labels(chain_name, label)},
        "policy_types": ["Ingress"],
        "ingress": [source],
    }
