"""`Chain`: every chainlet of a plan, the chain token they share, and how the entrypoint is reached.

Chainlets are created in the plan's order (dependencies first) but never wait on each other:
each dependent's contract holds its dependencies' URLs made from their Service names, so Pulumi
rolls every Deployment out in parallel (pulumi-kubernetes waits for a Service's endpoints, so
wiring through Service outputs would serialize the rollout, one model load per hop). Readiness
probes and the stubs' retries cover start-up order.

Exposure (`StackSettings.exposure`): ``cluster-ip`` (default) keeps the entrypoint in-cluster;
``load-balancer`` makes its Service a LoadBalancer; ``ingress`` adds an Ingress to it.
"""

from __future__ import annotations

import dataclasses
import pathlib
import secrets as _random
from collections.abc import Mapping
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from infra_chains.components import pod
from infra_chains.components.chainlet import Chainlet, ChainletArgs
from infra_chains.components.settings import StackSettings
from infra_chains.errors import ChainsUsageError
from infra_chains.plan.models import ChainPlan
from infra_chains.plan.names import chainlet_labels, dns_label
from infra_chains.targets.access import CHAIN_TOKEN_FILE

TYPE_TOKEN = "infra-chains:index:Chain"


@dataclasses.dataclass(frozen=True)
class ChainArgs:
    """A planned chain, the stack's settings and the secret values its chainlets declare."""

    plan: ChainPlan
    settings: StackSettings
    #: Secret key -> value, each already wrapped with `pulumi.Output.secret`.
    secrets: Mapping[str, pulumi.Input[str]]
    #: Where the chainlets' build contexts are written (one directory per chainlet).
    context_root: pathlib.Path
    #: The chain token the chainlets share. None: a random one is made at the first `up` and kept
    #: in the stack's state (its Secret ignores later values), like a random-provider password.
    chain_token: pulumi.Input[str] | None = None


class Chain(pulumi.ComponentResource):
    """One `Chainlet` per spec, a chain-token Secret, and the entrypoint's exposure.

    Outputs: ``entrypoint_url`` (Ingress/LoadBalancer address where configured, else in-cluster),
    ``chainlet_urls``, ``image_hashes``, ``deployment_hashes``, ``image_refs`` (name -> value).
    """

    entrypoint_url: pulumi.Output[str]
    chainlet_urls: pulumi.Output[dict[str, str]]
    image_hashes: pulumi.Output[dict[str, str]]
    deployment_hashes: pulumi.Output[dict[str, str]]
    image_refs: pulumi.Output[dict[str, str]]
    chainlets: dict[str, Chainlet]

    def __init__(self, name: str, args: ChainArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE_TOKEN, name, None, opts)
        plan, settings = args.plan, args.settings
        _check_secrets(plan, args.secrets)
        labels = chainlet_labels(plan.chain_name, [spec.name for spec in plan.chainlets])
        namespace = settings.namespace
        chain_labels = {"app.kubernetes.io/part-of": plan.chain_name,
                        "app.kubernetes.io/managed-by": "infra-chains"}
        token_value = args.chain_token if args.chain_token is not None else _random.token_urlsafe(32)
        token = k8s.core.v1.Secret(
            f"{name}-chain-token",
            metadata={"namespace": namespace, "labels": chain_labels},
            type="Opaque",
            string_data={CHAIN_TOKEN_FILE: pulumi.Output.secret(token_value)},
            opts=pulumi.ResourceOptions(
                parent=self,
                ignore_changes=None if args.chain_token is not None else ["stringData", "data"],
            ),
        )
        self.chainlets = {}
        for spec in plan.chainlets:  # dependencies first; no depends_on between them (see above)
            is_exposed = spec.is_entrypoint and settings.exposure == "load-balancer"
            self.chainlets[spec.name] = Chainlet(
                labels[spec.name],
                ChainletArgs(
                    plan=plan, spec=spec, settings=settings, labels=labels,
                    secrets={key: args.secrets[key] for key in spec.secret_keys},
                    token_secret_name=token.metadata.name,
                    context_dir=args.context_root / plan.chain_name / spec.name,
                    service_type="LoadBalancer" if is_exposed else "ClusterIP",
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        entry_label = labels[plan.entrypoint]
        in_cluster = pod.service_url(entry_label, namespace)
        entry_url: pulumi.Input[str] = in_cluster
        if settings.exposure == "ingress":
            entry_url = self._ingress(name, plan, settings, entry_label, chain_labels)
        elif settings.exposure == "load-balancer":
            # Only the export waits for the address (the provider waits for it): no chainlet does.
            entry_url = self.chainlets[plan.entrypoint].service.status.apply(
                lambda status: _load_balancer_url(status, in_cluster))

        def collect(attribute: str) -> pulumi.Output[dict[str, str]]:
            return pulumi.Output.all(**{n: getattr(c, attribute) for n, c in self.chainlets.items()})

        self.entrypoint_url = pulumi.Output.from_input(entry_url)
        self.chainlet_urls = collect("url")
        self.image_hashes = collect("image_hash")
        self.deployment_hashes = collect("deployment_hash")
        self.image_refs = collect("image_ref")
        self.register_outputs({
            "entrypoint_url": self.entrypoint_url, "chainlet_urls": self.chainlet_urls,
            "image_hashes": self.image_hashes, "deployment_hashes": self.deployment_hashes,
            "image_refs": self.image_refs,
        })

    def _ingress(self, name: str, plan: ChainPlan, settings: StackSettings, entry_label: str,
                 chain_labels: Mapping[str, str]) -> str:
        if not settings.ingress_host:
            raise ChainsUsageError(
                f"Chain {plan.chain_name!r}: exposure 'ingress' needs a host name; set the stack's "
                "ingress_host (e.g. chains.example.com)."
            )
        spec: dict[str, Any] = {"rules": [{"host": settings.ingress_host, "http": {"paths": [{
            "path": "/", "path_type": "Prefix",
            "backend": {"service": {"name": entry_label, "port": {"name": pod.PORT_NAME}}},
        }]}}]}
        if settings.ingress_class:
            spec["ingress_class_name"] = settings.ingress_class
        metadata: dict[str, Any] = {"name": dns_label(plan.chain_name, "ingress"),
                                    "namespace": settings.namespace, "labels": dict(chain_labels)}
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=cast(k8s.meta.v1.ObjectMetaArgsDict, metadata),
            spec=cast(k8s.networking.v1.IngressSpecArgsDict, spec),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return f"http://{settings.ingress_host}"


def _load_balancer_url(status: Any, fallback: str) -> str:
    """``http://<address>:<port>`` of a LoadBalancer Service's first ingress point (hostname on
    AWS, IP elsewhere); ``fallback`` (the in-cluster URL) while none is assigned."""
    ingress = ((status or {}).get("load_balancer") or {}).get("ingress") or []
    address = next((point.get("hostname") or point.get("ip") for point in ingress
                    if point.get("hostname") or point.get("ip")), None)
    return f"http://{address}:{pod.PORT}" if address else fallback


def _check_secrets(plan: ChainPlan, values: Mapping[str, pulumi.Input[str]]) -> None:
    missing = [key for key in plan.secret_keys if key not in values]
    if missing:
        users = {key: [s.name for s in plan.chainlets if key in s.secret_keys] for key in missing}
        listed = "; ".join(f"{key!r} (used by {', '.join(names)})" for key, names in users.items())
        raise ChainsUsageError(
            f"Chain {plan.chain_name!r}: no value for secret(s) {listed}. Pass each in the Chain's "
            "secrets (a Pulumi secret config value of that name in a stack)."
        )
