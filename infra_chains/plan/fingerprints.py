"""Per-chainlet digests of each input of the plan's two parts, so a preview can say *which*
input changed (not only that a hash did).

The Pulumi program (`infra_chains.components.program`, run by `pulumi up` and by the Kubernetes
target alike) exports them as the stack output ``chainlet_fingerprints`` beside ``image_hashes``
and ``deployment_hashes``; the next preview compares the new plan's fingerprints with them. Digests are 16 hex digits of `stable_hash`: enough to tell a change,
small in a stack's outputs. Pure: no Pulumi, no CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from infra_chains.plan.models import ChainletSpec, ChainPlan, stable_hash

#: The stack output holding every chainlet's `ChainletFingerprint`.
FINGERPRINTS_OUTPUT = "chainlet_fingerprints"
_DIGEST_LEN = 16


class ChainletFingerprint(pydantic.BaseModel):
    """A chainlet's hashes and a digest per input of each part.

    ``image`` keys: ``source``, ``requirements``, ``base_image``, ``runtime``; ``dependencies``:
    each direct dependency's interface digest; ``deployment`` keys: ``import_path``,
    ``compute``, ``replicas``, ``autoscaling``, ``dependencies`` (edges and RPC options),
    ``user_config``, ``secrets`` (names only), ``assets``, ``user_env``, ``environment``.
    """

    model_config = pydantic.ConfigDict(frozen=True)

    image_hash: str
    deployment_hash: str
    content_hash: str = ""
    image: dict[str, str] = {}
    dependencies: dict[str, str] = {}
    deployment: dict[str, str] = {}


def _digest(value: Any) -> str:
    return stable_hash({"v": value})[:_DIGEST_LEN]


def chainlet_fingerprint(
    spec: ChainletSpec,
    *,
    replicas: int | None = None,
    autoscaling: Mapping[str, Any] | None = None,
) -> ChainletFingerprint:
    """``spec``'s fingerprint; ``replicas`` and ``autoscaling`` are a stack's overrides (its
    settings change only the deployment part)."""
    image = spec.image.model_dump(mode="json")
    sources = image["sources"]
    deployment = spec.deployment.model_dump(mode="json")
    assets = dict(deployment["assets"])
    secret_keys = sorted(assets.pop("secret_keys", []))
    return ChainletFingerprint(
        image_hash=spec.image_hash,
        deployment_hash=spec.deployment_hash,
        content_hash=spec.content_hash,
        image={
            "source": _digest([sources["code"], sources["packages"], sources["data"],
                               image["external_package_dirs"], image["data_dir"]]),
            "requirements": _digest([image["pip_requirements"], image["apt_requirements"]]),
            "base_image": _digest([image["base_image"], image["python_executable"],
                                   image["python_version"], image["python_setup"]]),
            "runtime": _digest([image["runtime"], image["template_version"]]),
        },
        dependencies={name: digest[:_DIGEST_LEN] for name, digest in sources["dependencies"].items()},
        deployment={
            "import_path": _digest(deployment["import_path"]),
            "compute": _digest(deployment["compute"]),
            "replicas": _digest(deployment["replicas"] if replicas is None else replicas),
            "autoscaling": _digest(dict(autoscaling) if autoscaling else None),
            "dependencies": _digest(deployment["dependencies"]),
            "user_config": _digest(deployment["user_config"]),
            "secrets": _digest(secret_keys),
            "assets": _digest(assets),
            "user_env": _digest(deployment["user_env"]),
            "environment": _digest(deployment["environment"]),
        },
    )


def plan_fingerprints(
    plan: ChainPlan,
    *,
    replicas: Mapping[str, int] | None = None,
    autoscaling: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, ChainletFingerprint]:
    """Every chainlet's fingerprint, with a stack's per-chainlet overrides."""
    replicas = replicas or {}
    autoscaling = autoscaling or {}
    return {
        spec.name: chainlet_fingerprint(
            spec, replicas=replicas.get(spec.name), autoscaling=autoscaling.get(spec.name)
        )
        for spec in plan.chainlets
    }


def fingerprints_output(fingerprints: Mapping[str, ChainletFingerprint]) -> dict[str, Any]:
    """The plain JSON value exported as `FINGERPRINTS_OUTPUT`."""
    return {name: fp.model_dump(mode="json") for name, fp in sorted(fingerprints.items())}
