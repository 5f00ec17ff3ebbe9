"""The chain-aware preview: what an update would do to each chainlet, and why.

Computed from the new plan against a stack's last outputs (a pure function, no CLI): each
chainlet is ``new``, ``removed``, ``unchanged``, ``rebuild`` (its image changes: which input —
source, requirements, base image, runtime, a dependency's interface) or ``restart`` (same image,
its deployment part changed: compute, replicas, user_config, secret names, user_env, …). Pulumi's
own change summary (resource operations by kind) is added when a real preview ran, and so are
its per-object steps (`with_engine_steps`): a chainlet the hashes call unchanged whose objects
Pulumi would still change is a ``restart`` naming them (a rotated secret value, or a stack
setting outside the plan's hashes such as the namespace, the GPU map or ``startup_timeout_sec``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import pydantic

from infra_chains.plan.models import ChainPlan
from infra_chains.plan.fingerprints import (
    FINGERPRINTS_OUTPUT,
    ChainletFingerprint,
    plan_fingerprints,
)

ChainletAction = Literal["new", "rebuild", "restart", "unchanged", "removed"]

#: Human names of the fingerprint keys, for messages.
_LABELS = {
    "source": "source",
    "requirements": "requirements",
    "base_image": "base image",
    "runtime": "infra_chains runtime",
    "import_path": "import path",
    "compute": "compute",
    "replicas": "replicas",
    "autoscaling": "autoscaling",
    "dependencies": "dependencies",
    "user_config": "user_config",
    "secrets": "secret names",
    "assets": "assets",
    "user_env": "user_env",
    "environment": "environment",
}
#: Kinds of a chainlet's objects Pulumi would change → words (`ChainletChange.engine_changes`).
_ENGINE_LABELS = {"Secret": "secret values", "ConfigMap": "contract"}
#: Kinds whose change reaches the pods (Secrets and ConfigMaps are auto-named, so a new value is
#: a new name in the pod template); a change to the others (Service, HPA, …) leaves pods running.
_POD_KINDS = frozenset({"Deployment", "Secret", "ConfigMap", "Image", "PersistentVolumeClaim"})


class ChainletChange(pydantic.BaseModel):
    """What an update does to one chainlet.

    ``image_changes`` / ``deployment_changes`` name the inputs that changed (fingerprint keys,
    e.g. ``source``, ``replicas``); ``dependency_changes`` names the dependencies whose interface
    changed. ``engine_changes`` names the kinds of this chainlet's objects Pulumi's own preview
    would change (``Secret``, ``Deployment``, …), when a preview ran. ``detail_known`` is False
    when the stack's outputs have hashes but no fingerprints (deployed by a program that does not
    export them): the action is right, the reasons unknown.
    """

    name: str
    action: ChainletAction
    image_changes: list[str] = []
    dependency_changes: list[str] = []
    deployment_changes: list[str] = []
    engine_changes: list[str] = []
    detail_known: bool = True
    image_hash: str | None = None
    previous_image_hash: str | None = None

    @property
    def reasons(self) -> list[str]:
        """The changes in words, e.g. ``["source", "interface of Mid", "replicas"]``."""
        words = [_LABELS.get(key, key) for key in self.image_changes]
        words += [f"interface of {name}" for name in self.dependency_changes]
        words += [_LABELS.get(key, key) for key in self.deployment_changes]
        if not words and self.action in ("restart", "unchanged"):  # unexplained by the hashes
            words = [f"{_ENGINE_LABELS.get(kind, kind)} (Pulumi's diff)" for kind in self.engine_changes]
        return words


class ChainPreview(pydantic.BaseModel):
    """Per chainlet, what an update of ``stack`` would do; then Pulumi's change summary."""

    chain_name: str
    stack: str | None = None
    deployed_before: bool = pydantic.Field(description="The stack had outputs of this chain.")
    chainlets: list[ChainletChange]
    resource_changes: dict[str, int] | None = pydantic.Field(
        default=None, description="Pulumi's summary: operation (create, update, same, …) → count."
    )

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.chainlets)

    def chainlet(self, name: str) -> ChainletChange:
        for change in self.chainlets:
            if change.name == name:
                return change
        raise KeyError(name)


def _previous_fingerprints(outputs: Mapping[str, Any]) -> dict[str, ChainletFingerprint]:
    raw = outputs.get(FINGERPRINTS_OUTPUT)
    if not isinstance(raw, Mapping):
        return {}
    found: dict[str, ChainletFingerprint] = {}
    for name, value in raw.items():
        try:
            found[str(name)] = ChainletFingerprint.model_validate(value)
        except pydantic.ValidationError:
            continue  # written by another version: judged by its hashes alone
    return found


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def chain_preview(
    plan: ChainPlan,
    previous_outputs: Mapping[str, Any] | None,
    *,
    stack: str | None = None,
    replicas: Mapping[str, int] | None = None,
    autoscaling: Mapping[str, Mapping[str, Any]] | None = None,
    resource_changes: Mapping[str, int] | None = None,
) -> ChainPreview:
    """What updating a stack whose last outputs are ``previous_outputs`` (plain values, as
    ``pulumi stack output --json`` prints them; None or empty: never deployed) to ``plan``
    does to each chainlet. ``replicas`` / ``autoscaling`` are the stack's per-chainlet overrides.
    """
    outputs = previous_outputs or {}
    before = _previous_fingerprints(outputs)
    image_hashes = _str_map(outputs.get("image_hashes"))
    deployment_hashes = _str_map(outputs.get("deployment_hashes"))
    known = set(before) | set(image_hashes)
    now = plan_fingerprints(plan, replicas=replicas, autoscaling=autoscaling)
    changes: list[ChainletChange] = []
    for spec in plan.chainlets:
        fp = now[spec.name]
        if spec.name not in known:
            changes.append(ChainletChange(name=spec.name, action="new", image_hash=fp.image_hash))
            continue
        old = before.get(spec.name)
        previous_image = old.image_hash if old else image_hashes.get(spec.name)
        if old is None:
            image_changed = previous_image != fp.image_hash
            deployment_changed = deployment_hashes.get(spec.name) != fp.deployment_hash
            changes.append(ChainletChange(
                name=spec.name,
                action="rebuild" if image_changed else "restart" if deployment_changed else "unchanged",
                detail_known=False, image_hash=fp.image_hash, previous_image_hash=previous_image,
            ))
            continue
        image_keys = sorted(k for k, v in fp.image.items() if old.image.get(k) != v)
        dependency_names = sorted(
            name for name in set(fp.dependencies) | set(old.dependencies)
            if fp.dependencies.get(name) != old.dependencies.get(name)
        )
        deployment_keys = sorted(k for k, v in fp.deployment.items() if old.deployment.get(k) != v)
        image_changed = bool(image_keys or dependency_names) or old.image_hash != fp.image_hash
        if image_changed:
            action: ChainletAction = "rebuild"
        elif deployment_keys or old.deployment_hash != fp.deployment_hash:
            action = "restart"
        else:
            action = "unchanged"
        changes.append(ChainletChange(
            name=spec.name, action=action, image_changes=image_keys,
            dependency_changes=dependency_names, deployment_changes=deployment_keys,
            image_hash=fp.image_hash, previous_image_hash=previous_image,
        ))
    planned = {spec.name for spec in plan.chainlets}
    for name in sorted(known - planned):
        old = before.get(name)
        changes.append(ChainletChange(
            name=name, action="removed",
            previous_image_hash=old.image_hash if old else image_hashes.get(name),
        ))
    return ChainPreview(
        chain_name=plan.chain_name,
        stack=stack,
        deployed_before=bool(known),
        chainlets=changes,
        resource_changes=dict(resource_changes) if resource_changes is not None else None,
    )


def with_engine_steps(preview: ChainPreview, steps: Mapping[str, Iterable[str]]) -> ChainPreview:
    """``preview`` with Pulumi's per-object plan folded in: ``steps`` maps a chainlet to the
    kinds of its objects the engine would create, update, replace or delete. A chainlet that the
    hashes call unchanged is a ``restart`` when one of those reaches its pods (a reason outside
    the plan); a change around them alone (its Service, HPA…) is listed, the action kept."""
    changes = []
    for change in preview.chainlets:
        kinds = sorted(set(steps.get(change.name, ())))
        update: dict[str, Any] = {"engine_changes": kinds}
        if change.action == "unchanged" and _POD_KINDS.intersection(kinds):
            update["action"] = "restart"
        changes.append(change.model_copy(update=update))
    return preview.model_copy(update={"chainlets": changes})
