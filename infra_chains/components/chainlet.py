"""`Chainlet`: one chainlet of a plan as Kubernetes objects, the image it runs included.

Children (each ``parent=self``, named ``<component name>-<role>``):

- ``-image``: the image built from `build.write_build_context` (tag = the spec's ``image_hash``)
  and pushed to the stack's registry; the pod runs its ``repoDigest``, so a rebuild rolls out and
  an unchanged chainlet does not. With ``build_images`` false the pod runs
  ``<registry>/<label>:<image_hash>`` (built by CI) and nothing is built; with no registry
  (a local cluster) the image is not pushed and the pod runs ``infra-chains/<label>:<image_hash>``
  if present on the node (a rebuild is a new tag, so it still rolls out);
- ``-secrets``: a Secret with only this chainlet's ``secret_keys`` (values are secret Outputs:
  encrypted in state, never an output);
- ``-contract``: the runtime contract in a ConfigMap. Both are auto-named (Pulumi appends a
  suffix and replaces them when their data change), so a changed contract or secret is a new
  name in the pod template: a rollout, never pods reading a half-changed file;
- ``-deployment`` and ``-service``: named by the chainlet's DNS label (deterministic URLs);
- ``-network-policy``: only the chain's own pods reach a chainlet's port; the entrypoint's is open
  (its callers are outside the chain);
- ``-hpa`` when the stack sets autoscaling, ``-pdb`` when more than one replica may run;
- ``-assets``: a PersistentVolumeClaim for the fetched assets when the chainlet has some and the
  stack names ``assets_storage_class`` (otherwise an emptyDir); the rollout's deadlines grow by
  ``assets_fetch_timeout_sec``, the init container's allowance.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from infra_chains.build.context import write_build_context
from infra_chains.build.layout import ChainletLayout
from infra_chains.components import pod
from infra_chains.components.gpu import gpu_scheduling
from infra_chains.components.settings import StackSettings
from infra_chains.plan.models import ChainletSpec, ChainPlan
from infra_chains.serving.contract import RuntimeContract
from infra_chains.serving.health import health_policy
from infra_chains.targets.access import CHAIN_TOKEN_FILE, with_chain_access
from infra_chains.targets.contracts import AssetDirs, runtime_contract

TYPE_TOKEN = "infra-chains:index:Chainlet"
#: The platform images are built for (the nodes GPU pools and most clusters run).
IMAGE_PLATFORM = "linux/amd64"
#: Longest Pulumi waits for a Deployment beyond the startup probe's allowance.
ROLLOUT_MARGIN_SEC = 300

#: checkov Kubernetes checks a chainlet's objects may skip, each with why; written as annotations
#: checkov reads (``checkov.io/skip<n>: <id>=<reason>``) on the objects they concern only.
CHECKOV_SKIP_TAG_IMAGE = {
    "CKV_K8S_43": "build_images is false: the pod runs the content-hash tag CI pushed, whose "
    "digest is not known here (pulled Always)",
}
CHECKOV_SKIP_LOCAL_IMAGE = {
    "CKV_K8S_43": "no registry: the image is never pushed, so it has no registry digest; the "
    "pod runs its content-hash tag, loaded into the local cluster's nodes",
    "CKV_K8S_15": "no registry: pulling Always would fail for an image that is only on the "
    "nodes (kind load, Docker Desktop); IfNotPresent, and a rebuild is a new content-hash tag",
}


@dataclasses.dataclass(frozen=True)
class ChainletArgs:
    """Everything one chainlet's objects are made from."""

    plan: ChainPlan
    spec: ChainletSpec
    settings: StackSettings
    #: Chainlet name -> DNS label, for the whole chain (`plan.names.chainlet_labels`).
    labels: Mapping[str, str]
    #: This chainlet's secret values (at least its ``secret_keys``), already `Output.secret`.
    secrets: Mapping[str, pulumi.Input[str]]
    #: Name of the chain-level Secret holding the chain token (key `CHAIN_TOKEN_FILE`).
    token_secret_name: pulumi.Input[str]
    #: Where this chainlet's build context is written.
    context_dir: pathlib.Path
    #: Service type of this chainlet (the Chain sets LoadBalancer on the entrypoint).
    service_type: str = "ClusterIP"


class Chainlet(pulumi.ComponentResource):
    """One chainlet's image, Secret, contract, Deployment and Service (see the module docstring).

    Outputs: ``url`` (in-cluster, from names alone), ``image_ref`` (the digest where known),
    ``image_hash``, ``deployment_hash``.
    """

    url: pulumi.Output[str]
    image_ref: pulumi.Output[str]
    image_hash: pulumi.Output[str]
    deployment_hash: pulumi.Output[str]
    #: The chainlet's Service (the Chain reads a load balancer's address from its status).
    service: k8s.core.v1.Service

    def __init__(self, name: str, args: ChainletArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        spec, settings, plan = args.spec, args.settings, args.plan
        label = args.labels[spec.name]
        namespace = settings.namespace
        labels = pod.object_labels(plan.chain_name, label, spec)
        child = pulumi.ResourceOptions(parent=self)
        annotations = _checkov_annotations(_checkov_skips(settings))

        image_ref, pull_policy = self._image(name, args, label, child)
        contract = _contract(args, label)
        data = {pod.CONTRACT_KEY: contract.model_dump_json(indent=2)}
        if contract.assets:  # the init container's items file
            data[pod.ASSET_ITEMS_KEY] = json.dumps(
                [m.item.model_dump(mode="json", exclude_none=True) for m in contract.assets], indent=2)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-contract",
            metadata={"namespace": namespace, "labels": labels},
            data=data,
            opts=child,
        )
        secret_name: pulumi.Output[str] | None = None
        if spec.secret_keys:
            secret = k8s.core.v1.Secret(
                f"{name}-secrets",
                metadata={"namespace": namespace, "labels": labels},
                type="Opaque",
                string_data={key: pulumi.Output.secret(args.secrets[key]) for key in spec.secret_keys},
                opts=child,
            )
            secret_name = secret.metadata.name
        scheduling = gpu_scheduling(
            spec.compute.gpu, chainlet=spec.name,
            node_selectors=settings.gpu_node_selectors, tolerations=settings.gpu_tolerations,
        )
        assets = self._assets(name, args, contract, labels, child)
        autoscaling = settings.autoscaling.get(spec.name)
        replicas = pod.replica_count(spec, settings.replicas)
        health = health_policy(spec.deployment.health_checks)
        deployment_spec: dict[str, Any] = {
            "selector": {"match_labels": pod.selector_labels(plan.chain_name, label)},
            "strategy": pod.rollout_strategy(spec.compute),
            "revision_history_limit": 5,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod.pod_spec(
                    image=image_ref, pull_policy=pull_policy, compute=spec.compute,
                    scheduling=scheduling, contract_config_map=config_map.metadata.name,
                    secret_name=secret_name, token_secret_name=args.token_secret_name,
                    startup_timeout_sec=settings.startup_timeout_sec,
                    graceful_shutdown_sec=contract.graceful_shutdown_sec, assets=assets,
                    health=health,
                ),
            },
        }
        allowance = pod.startup_budget_sec(settings.startup_timeout_sec, health)
        if assets is not None:  # the init container's fetch comes before the startup probe
            allowance += settings.assets_fetch_timeout_sec
        if allowance > settings.startup_timeout_sec:  # assets, or a longer startup_threshold
            deployment_spec["progress_deadline_seconds"] = allowance + ROLLOUT_MARGIN_SEC
        if autoscaling is None:  # with an HPA, the HPA owns the count (Pulumi must not reset it)
            deployment_spec["replicas"] = replicas
        rollout = f"{allowance + ROLLOUT_MARGIN_SEC}s"
        named: dict[str, Any] = {"name": label, "namespace": namespace, "labels": labels}
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            # pod.py builds these input dicts untyped (dict[str, Any]); the schema test checks them.
            metadata=cast(k8s.meta.v1.ObjectMetaArgsDict, {**named, "annotations": annotations}),
            spec=cast(k8s.apps.v1.DeploymentSpecArgsDict, deployment_spec),
            opts=pulumi.ResourceOptions(
                parent=self, custom_timeouts=pulumi.CustomTimeouts(create=rollout, update=rollout)
            ),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": label, "namespace": namespace, "labels": labels},
            spec={
                "type": args.service_type,
                "selector": pod.selector_labels(plan.chain_name, label),
                "ports": [{"name": pod.PORT_NAME, "port": pod.PORT, "target_port": pod.PORT_NAME,
                           "protocol": "TCP"}],
            },
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=cast(k8s.meta.v1.ObjectMetaArgsDict, named),
            spec=cast(k8s.networking.v1.NetworkPolicySpecArgsDict,
                      pod.network_policy(plan.chain_name, label, entrypoint=spec.is_entrypoint)),
            opts=child,
        )
        if autoscaling is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata={"name": label, "namespace": namespace, "labels": labels},
                spec={
                    "scale_target_ref": {"api_version": "apps/v1", "kind": "Deployment", "name": label},
                    "min_replicas": autoscaling.min_replicas,
                    "max_replicas": autoscaling.max_replicas,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "average_utilization": autoscaling.target_cpu_percent}}}],
                },
                opts=child,
            )
        most = autoscaling.max_replicas if autoscaling is not None else replicas
        if most > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": label, "namespace": namespace, "labels": labels},
                spec={"max_unavailable": 1,
                      "selector": {"match_labels": pod.selector_labels(plan.chain_name, label)}},
                opts=child,
            )

        self.url = pulumi.Output.from_input(pod.service_url(label, namespace))
        self.image_ref = pulumi.Output.from_input(image_ref)
        self.image_hash = pulumi.Output.from_input(spec.image_hash)
        self.deployment_hash = pulumi.Output.from_input(spec.deployment_hash)
        self.register_outputs({
            "url": self.url, "image_ref": self.image_ref,
            "image_hash": self.image_hash, "deployment_hash": self.deployment_hash,
        })

    def _assets(
        self, name: str, args: ChainletArgs, contract: RuntimeContract, labels: Mapping[str, str],
        child: pulumi.ResourceOptions,
    ) -> pod.PodAssets | None:
        """The pod's asset volume and mounts; a claim when the stack names a storage class."""
        if not contract.assets:
            return None
        settings = args.settings
        claim_name: pulumi.Output[str] | None = None
        if settings.assets_storage_class is not None:
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-assets",
                metadata={"namespace": settings.namespace, "labels": dict(labels)},
                spec={
                    "access_modes": [settings.assets_access_mode],
                    "storage_class_name": settings.assets_storage_class,
                    "resources": {"requests": {"storage": settings.assets_volume_size}},
                },
                opts=child,
            )
            claim_name = claim.metadata.name
        return pod.PodAssets(
            mounts=contract.assets, python=ChainletLayout.in_image(args.spec.image).python_executable,
            claim_name=claim_name, size=settings.assets_volume_size,
        )

    def _image(
        self, name: str, args: ChainletArgs, label: str, child: pulumi.ResourceOptions
    ) -> tuple[pulumi.Input[str], str]:
        """The reference the pod runs, and its pull policy."""
        registry = args.settings.registry
        repository = f"{registry.rstrip('/')}/{label}" if registry else f"infra-chains/{label}"
        tagged = f"{repository}:{args.spec.image_hash}"
        if not args.settings.build_images:
            return tagged, "Always"  # a tag can be pushed again; a digest cannot
        context = write_build_context(args.plan, args.spec, args.context_dir)
        image = docker.Image(
            f"{name}-image",
            build={"context": str(context.directory), "dockerfile": str(context.directory / "Dockerfile"),
                   "platform": IMAGE_PLATFORM},
            image_name=tagged,
            skip_push=registry is None,
            opts=child,
        )
        if registry is None:
            # Never pushed: its repoDigest is the local engine's image ID, which no node can
            # pull. A local cluster (kind load, Docker Desktop) has the image under its tag.
            return image.image_name, "IfNotPresent"
        return image.repo_digest, "Always"  # by digest: only a manifest check per start


def _contract(args: ChainletArgs, label: str) -> RuntimeContract:
    """The contract inside the pod: dependencies at their Service URLs, secrets and the chain
    token as mounted files, the Host names callers use; ``instance_id`` names the rollout."""
    plan, spec, settings = args.plan, args.spec, args.settings
    namespace = settings.namespace
    base_urls = {dep.name: pod.service_url(args.labels[dep.name], namespace) for dep in spec.dependencies}
    made = runtime_contract(
        plan, spec, ChainletLayout.in_image(spec.image), base_urls=base_urls, port=pod.PORT,
        host="0.0.0.0", secrets_dir=pathlib.Path(pod.SECRETS_DIR) if spec.secret_keys else None,
        assets=AssetDirs(pathlib.Path(pod.ASSET_CACHE_DIR), in_place=True),
    )
    hosts = pod.service_hosts(label, namespace)
    if spec.is_entrypoint:
        hosts_allowed = pod.allowed_entrypoint_hosts(hosts, settings.exposure, settings.ingress_host)
    else:
        hosts_allowed = hosts
    made = with_chain_access(
        made, entrypoint=spec.is_entrypoint,
        token_file=pathlib.Path(pod.TOKEN_DIR) / CHAIN_TOKEN_FILE, allowed_hosts=hosts_allowed,
    )
    # The kubelet restarts a pod whose loop misses its liveness probes this long (stub warnings).
    made = made.model_copy(update={
        "liveness_budget_sec": health_policy(spec.deployment.health_checks).restart_after_sec})
    # One nonce per rollout: what the pod runs (image part) and how (this contract).
    identity = hashlib.sha256(f"{spec.image_hash}\0{made.model_dump_json()}".encode()).hexdigest()
    return made.model_copy(update={"instance_id": identity[:16]})


def _checkov_skips(settings: StackSettings) -> Mapping[str, str]:
    """The checks the pod's image reference cannot pass, by how the stack gets its images."""
    if not settings.build_images:
        return CHECKOV_SKIP_TAG_IMAGE
    if settings.registry is None:
        return CHECKOV_SKIP_LOCAL_IMAGE
    return {}


def _checkov_annotations(skips: Mapping[str, str]) -> dict[str, str]:
    return {f"checkov.io/skip{i}": f"{check}={reason}"
            for i, (check, reason) in enumerate(sorted(skips.items()), start=1)}
