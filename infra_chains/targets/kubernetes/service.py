"""A deployed chain as its stack's outputs describe it: the `ChainService` and the status.

Outputs (`infra_chains.components.program.OUTPUT_NAMES` plus this target's): ``entrypoint_url``
and ``chainlet_urls`` (in-cluster URLs, reachable from inside the cluster or through the
entrypoint's exposure), ``image_hashes``, ``deployment_hashes``, ``chainlet_fingerprints``,
``entrypoint``. Nothing here talks to the cluster: readiness is what the last update says (the
engine waits for every Deployment to be ready, so a succeeded update means ready chainlets).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infra_chains.chain_service import ChainService
from infra_chains.errors import DeploymentError
from infra_chains.public_types import DeployedChainlet
from infra_chains.targets.base import ChainletInfo, ChainletStatus, ChainStatus
from infra_chains.targets.contracts import PREDICT_PATH, predict_url
from infra_chains.plan.fingerprints import FINGERPRINTS_OUTPUT
from infra_chains.targets.kubernetes.program import ENTRYPOINT_OUTPUT

#: The last update's result (``pulumi stack history``) → every chainlet's status.
_UPDATE_STATUS: dict[str, ChainletStatus] = {
    "succeeded": "ready",
    "in-progress": "starting",
    "failed": "failed",
}


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


class KubernetesChainService(ChainService):
    """A chain deployed to a Pulumi stack, from that stack's outputs."""

    def __init__(self, name: str, stack: str, entrypoint_url: str,
                 chainlet_urls: Mapping[str, str], entrypoint: str | None = None) -> None:
        super().__init__(name)
        self.stack = stack
        self.entrypoint_url = entrypoint_url
        self.chainlet_urls = dict(chainlet_urls)
        self.entrypoint = entrypoint

    @classmethod
    def from_outputs(cls, name: str, stack: str, outputs: Mapping[str, Any]) -> KubernetesChainService:
        """The service of chain ``name`` from stack ``stack``'s outputs (plain values)."""
        url = outputs.get("entrypoint_url")
        if not isinstance(url, str) or not url:
            raise DeploymentError(
                f"Stack {stack!r} of chain {name!r} has no entrypoint_url output (outputs: "
                f"{sorted(outputs) or 'none'}); it was not deployed by infra_chains, or its last "
                "update failed before the chain was created. Push the chain again."
            )
        entrypoint = outputs.get(ENTRYPOINT_OUTPUT)
        return cls(name, stack, url, _str_map(outputs.get("chainlet_urls")),
                   entrypoint if isinstance(entrypoint, str) else None)

    @property
    def run_remote_url(self) -> str:
        url = self.entrypoint_url.rstrip("/")
        return url if url.endswith(PREDICT_PATH) else predict_url(url)

    @property
    def status_page_url(self) -> str:
        return self.entrypoint_url

    def get_info(self) -> list[DeployedChainlet]:
        return [
            DeployedChainlet(name=name, is_entrypoint=name == self.entrypoint, status="ready",
                             logs_url="", url=url)
            for name, url in self.chainlet_urls.items()
        ]


def status_from_outputs(name: str, stack: str, outputs: Mapping[str, Any],
                        last_result: str | None) -> ChainStatus:
    """`ChainStatus` of chain ``name`` from its stack's outputs and the last update's result
    (``succeeded``, ``failed``, ``in-progress``; None: never updated)."""
    urls = _str_map(outputs.get("chainlet_urls"))
    image_hashes = _str_map(outputs.get("image_hashes"))
    fingerprints = outputs.get(FINGERPRINTS_OUTPUT)
    fingerprints = fingerprints if isinstance(fingerprints, Mapping) else {}
    entrypoint = outputs.get(ENTRYPOINT_OUTPUT)
    status: ChainletStatus = "stopped" if not outputs else _UPDATE_STATUS.get(last_result or "", "unknown")
    message = None if status == "ready" else (
        "nothing deployed (destroyed or never pushed)" if not outputs
        else f"last update: {last_result or 'none'}"
    )
    chainlets = []
    for chainlet in sorted(set(urls) | set(image_hashes)):
        fingerprint = fingerprints.get(chainlet)
        content_hash = fingerprint.get("content_hash", "") if isinstance(fingerprint, Mapping) else ""
        chainlets.append(ChainletInfo(
            name=chainlet, status=status, is_entrypoint=chainlet == entrypoint,
            url=urls.get(chainlet), content_hash=str(content_hash or image_hashes.get(chainlet, ""))[:12],
            message=message,
        ))
    url = outputs.get("entrypoint_url")
    return ChainStatus(
        name=name, target="kubernetes", environment=stack,
        entrypoint=entrypoint if isinstance(entrypoint, str) else "",
        entrypoint_url=url if isinstance(url, str) else None,
        chainlets=chainlets,
    )
