"""Target names -> targets. `push`'s ``remote`` and the CLI's ``--target`` pick from here."""

from __future__ import annotations

from infra_chains.errors import ChainsUsageError
from infra_chains.targets.base import Target

DEFAULT_TARGET = "local"
#: Targets on the roadmap that this version cannot deploy to yet.
PLANNED_TARGETS = ("docker", "kubernetes")


def get_target(name: str | None) -> Target:
    """The target called ``name`` (default: local)."""
    name = (name or DEFAULT_TARGET).lower()
    if name == "local":
        from infra_chains.targets.local import LocalTarget

        return LocalTarget()
    if name in PLANNED_TARGETS:
        raise ChainsUsageError(
            f"The {name!r} target is not available in this version of infra_chains yet; deploy "
            "with the 'local' target, or write the build contexts with --dry-run "
            "(only_generate_trusses=True) to build images yourself."
        )
    raise ChainsUsageError(
        f"Unknown target {name!r}; choose one of: local, {', '.join(PLANNED_TARGETS)}."
    )
