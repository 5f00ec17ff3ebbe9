"""Target names -> targets. `push`'s ``remote`` and the CLI's ``--target`` pick from here."""

from __future__ import annotations

from typing import Any

from infra_chains.errors import ChainsUsageError
from infra_chains.targets.base import Target

DEFAULT_TARGET = "local"
AVAILABLE_TARGETS = ("local", "docker", "kubernetes")
#: Targets that deploy to a named stack (option ``stack``), which a push's environment names.
STACK_TARGETS = ("kubernetes",)
#: Targets on the roadmap that this version cannot deploy to yet.
PLANNED_TARGETS: tuple[str, ...] = ()


def get_target(name: str | None = None, *, environment: str | None = None, **options: Any) -> Target:
    """The target called ``name`` (default: local), made with ``options`` (e.g. ``root=`` for local,
    ``build_args=`` for docker, ``stack=`` for kubernetes).

    ``environment`` (a push's) names the stack of a target that has stacks when ``options`` name
    none: ``push(environment="prod", remote="kubernetes")`` deploys to stack ``prod``.
    """
    name = (name or DEFAULT_TARGET).lower()
    if name == "local":
        from infra_chains.targets.local import LocalTarget

        try:
            return LocalTarget(**options)
        except TypeError as exc:
            raise ChainsUsageError(f"Invalid option for the 'local' target: {exc}.") from exc
    if name == "docker":
        from infra_chains.targets.docker import DockerTarget

        try:
            return DockerTarget(**options)
        except TypeError as exc:
            raise ChainsUsageError(f"Invalid option for the 'docker' target: {exc}.") from exc
    if name == "kubernetes":
        from infra_chains._optional import require

        require("pulumi", extra="kubernetes", purpose="The 'kubernetes' target")
        from infra_chains.targets.kubernetes import KubernetesTarget

        if environment is not None:
            options.setdefault("stack", environment)

        try:
            return KubernetesTarget(**options)
        except TypeError as exc:
            raise ChainsUsageError(f"Invalid option for the 'kubernetes' target: {exc}.") from exc
    if name in PLANNED_TARGETS:
        raise ChainsUsageError(
            f"The {name!r} target is not available in this version of infra_chains yet; deploy "
            "with the 'local' target, or write the build contexts (only_generate_trusses=True) "
            "to build images yourself."
        )
    raise ChainsUsageError(
        f"Unknown target {name!r}; choose one of: {', '.join(AVAILABLE_TARGETS + PLANNED_TARGETS)}."
    )


def resolve_target(
    remote: str | Target | None, *, environment: str | None = None, **options: Any
) -> Target:
    """``remote`` as `push` takes it: a `Target` instance as it is (made with its own options and
    stack), or a name for `get_target`."""
    if isinstance(remote, Target):
        if options:
            raise ChainsUsageError(
                f"Target options {sorted(options)} only apply to a target given by name; "
                f"configure the {type(remote).__name__} instance instead."
            )
        return remote
    return get_target(remote, environment=environment, **options)
