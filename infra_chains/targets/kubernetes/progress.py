"""Pulumi engine events → each chainlet's push progress.

A resource belongs to the chainlet whose `Chainlet` component is its parent (from the event's
parent URN), or, for an event without one, whose DNS label or name its own name starts with (the
components derive children's names from the component's). The last operation on a chainlet's
children is its message; images mark it ``building``, other children ``updating``; a failed
operation marks it ``failed``. The engine waits for Deployments to be ready, so a finished update
means every chainlet is ready (`ProgressTracker.finish`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from infra_chains.plan.models import ChainPlan
from infra_chains.plan.names import chainlet_labels
from infra_chains.targets.base import ChainletProgress, ProgressCallback

CHAINLET_TYPE = "infra-chains:index:Chainlet"
#: Operations that change nothing: not worth a message.
_QUIET_OPS = {"same", "read", "refresh"}


def parse_urn(urn: str) -> tuple[str, str]:
    """``(type, name)`` of a Pulumi URN ``urn:pulumi:STACK::PROJECT::PARENT$TYPE::NAME``."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return "", urn
    return parts[2].rsplit("$", 1)[-1], parts[3]


class ProgressTracker:
    """Folds engine events into one `ChainletProgress` per chainlet and reports each change."""

    def __init__(self, plan: ChainPlan, changed: Iterable[str],
                 on_progress: ProgressCallback | None) -> None:
        changed_names = set(changed)
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._rows = {
            spec.name: ChainletProgress(
                name=spec.name, status="waiting" if spec.name in changed_names else "unchanged",
                changed=spec.name in changed_names,
            )
            for spec in plan.chainlets
        }
        labels = chainlet_labels(plan.chain_name, [spec.name for spec in plan.chainlets])
        self._names: dict[str, str] = {}
        for name, label in labels.items():
            self._names[name] = name
            self._names[name.lower()] = name
            self._names[label] = name

    @property
    def rows(self) -> list[ChainletProgress]:
        with self._lock:
            return list(self._rows.values())

    def chainlet_of(self, urn: str, parent: str | None) -> str | None:
        """The chainlet a resource belongs to, or None (the chain's own resources)."""
        type_, name = parse_urn(urn)
        if type_ == CHAINLET_TYPE and name in self._names:
            return self._names[name]
        if parent:
            parent_type, parent_name = parse_urn(parent)
            if parent_type == CHAINLET_TYPE and parent_name in self._names:
                return self._names[parent_name]
        matches = [key for key in self._names if name == key or name.startswith(key + "-")]
        return self._names[max(matches, key=len)] if matches else None

    def on_event(self, event: Any) -> None:
        """Takes a `pulumi.automation.EngineEvent`."""
        pre = event.resource_pre_event
        failed = event.res_op_failed_event
        diagnostic = event.diagnostic_event
        if pre is not None:
            self._step(pre.metadata, failed=False)
        elif failed is not None:
            self._step(failed.metadata, failed=True)
        elif diagnostic is not None and diagnostic.urn and diagnostic.severity == "error":
            name = self.chainlet_of(diagnostic.urn, None)
            if name is not None:
                self._update(name, status="failed", message=diagnostic.message.strip())

    def _step(self, metadata: Any, *, failed: bool) -> None:
        state = metadata.new or metadata.old
        parent = state.parent if state is not None else None
        name = self.chainlet_of(metadata.urn, parent)
        if name is None:
            return
        op = str(getattr(metadata.op, "value", metadata.op))
        type_, resource = parse_urn(metadata.urn)
        if failed:
            self._update(name, status="failed", message=f"{op} {type_} {resource} failed")
        elif op not in _QUIET_OPS and type_ != CHAINLET_TYPE:
            status = "building" if type_.startswith("docker") else "updating"
            self._update(name, status=status, message=f"{op} {type_.rsplit(':', 1)[-1]} {resource}",
                         changed=True)

    def finish(self, urls: Mapping[str, str]) -> list[ChainletProgress]:
        """Every chainlet ready at its URL (the update succeeded)."""
        with self._lock:
            for name, row in self._rows.items():
                self._rows[name] = row.model_copy(
                    update={"status": "ready", "url": urls.get(name), "message": None})
        self._emit()
        return self.rows

    def _update(self, name: str, **fields: Any) -> None:
        with self._lock:
            row = self._rows[name]
            if row.status == "failed" and fields.get("status") != "failed":
                return
            self._rows[name] = row.model_copy(update=fields)
        self._emit()

    def _emit(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.rows)


class EngineSteps:
    """The kinds of each chainlet's objects a preview's engine events would change (for
    `preview.with_engine_steps`): ``{"Summarizer": {"Secret", "Deployment"}}``."""

    def __init__(self, plan: ChainPlan) -> None:
        self._owner = ProgressTracker(plan, (), None)
        self.kinds: dict[str, set[str]] = {}

    def on_event(self, event: Any) -> None:
        """Takes a `pulumi.automation.EngineEvent`; keeps steps that change something."""
        pre = event.resource_pre_event
        if pre is None:
            return
        metadata = pre.metadata
        op = str(getattr(metadata.op, "value", metadata.op))
        type_, _ = parse_urn(metadata.urn)
        if op in _QUIET_OPS or type_ == CHAINLET_TYPE:
            return
        state = metadata.new or metadata.old
        name = self._owner.chainlet_of(metadata.urn, state.parent if state is not None else None)
        if name is not None:
            self.kinds.setdefault(name, set()).add(type_.rsplit(":", 1)[-1])
