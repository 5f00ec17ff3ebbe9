"""The chain graph: every chainlet reachable from an entrypoint, in dependency order."""

from __future__ import annotations

import dataclasses
from typing import Any

from infra_chains.errors import ChainsUsageError, DefinitionProblem
from infra_chains.framework.chainlet import (
    ChainletBase,
    definition_of,
    problems_in_scope_of,
    raise_problems,
)
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.framework.unsupported import unsupported_error, unsupported_reason


@dataclasses.dataclass(frozen=True)
class ChainGraph:
    """Chainlets reachable from ``entrypoint``; ``chainlets`` lists dependencies before dependents.

    A chainlet used by several dependents is one node.
    """

    entrypoint: ChainletDefinition
    chainlets: tuple[ChainletDefinition, ...]

    def by_name(self, name: str) -> ChainletDefinition:
        for chainlet in self.chainlets:
            if chainlet.name == name:
                return chainlet
        raise KeyError(name)

    def dependents_of(self, name: str) -> list[ChainletDefinition]:
        target = self.by_name(name).cls
        return [c for c in self.chainlets if any(d.chainlet_cls is target for d in c.dependencies)]

    def dependency_names(self, chainlet: ChainletDefinition) -> list[str]:
        return [definition_of(d.chainlet_cls).name for d in chainlet.dependencies if d.is_chainlet]


def build_graph(entrypoint: type[Any]) -> ChainGraph:
    """Validate every chainlet reachable from ``entrypoint`` and order them.

    Problems of all chainlets involved (and of every class defined beside them) are reported
    in one `ChainsUsageError`; so are cycles (with their path) and name clashes.
    """
    if not (isinstance(entrypoint, type) and issubclass(entrypoint, ChainletBase)):
        if unsupported_reason(entrypoint) is not None:
            raise unsupported_error(entrypoint, "as the entrypoint of a chain")
        raise ChainsUsageError(
            f"The entrypoint must be a ChainletBase subclass, got {entrypoint!r}."
        )
    classes, problems = _reachable(entrypoint)
    if problems:
        raise_problems(problems)
    definitions = {cls: definition_of(cls) for cls in classes}
    ordered = _topological(entrypoint, definitions)
    _check_names(ordered)
    return ChainGraph(entrypoint=definitions[entrypoint], chainlets=tuple(ordered))


def _reachable(
    entrypoint: type[ChainletBase],
) -> tuple[list[type[ChainletBase]], list[DefinitionProblem]]:
    seen: dict[type[ChainletBase], None] = {}
    problems: list[DefinitionProblem] = []
    stack = [entrypoint]
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen[cls] = None
        # Before reading the definition: this also analyses classes whose annotations named
        # something defined later in their file (deferred at class creation).
        problems.extend(problems_in_scope_of(cls))
        definition = cls.__infra_chains_record__.definition
        if definition is None:
            continue  # its problems are reported by the caller
        stack.extend(d.chainlet_cls for d in definition.dependencies if d.is_chainlet)
    return list(seen), problems


def _topological(
    entrypoint: type[ChainletBase], definitions: dict[type[ChainletBase], ChainletDefinition]
) -> list[ChainletDefinition]:
    ordered: list[ChainletDefinition] = []
    done: set[type[ChainletBase]] = set()
    path: list[type[ChainletBase]] = []

    def visit(cls: type[ChainletBase]) -> None:
        if cls in done:
            return
        if cls in path:
            cycle = [c.__name__ for c in path[path.index(cls):]] + [cls.__name__]
            definition = definitions[cls]
            raise_problems([DefinitionProblem(
                "dependency-cycle", definition.file, definition.line, cls.__name__,
                f"dependency cycle {' -> '.join(cycle)}; a chain must be acyclic, so break the "
                "cycle (e.g. move the shared logic into a third chainlet)",
            )])
        path.append(cls)
        for dependency in definitions[cls].dependencies:
            if dependency.is_chainlet:
                visit(dependency.chainlet_cls)
        path.pop()
        done.add(cls)
        ordered.append(definitions[cls])

    visit(entrypoint)
    return ordered


def _check_names(ordered: list[ChainletDefinition]) -> None:
    by_name: dict[str, ChainletDefinition] = {}
    problems: list[DefinitionProblem] = []
    for chainlet in ordered:
        other = by_name.setdefault(chainlet.name, chainlet)
        if other is not chainlet:
            problems.append(DefinitionProblem(
                "name-clash", chainlet.file, chainlet.line, chainlet.cls.__name__,
                f"chainlet name {chainlet.name!r} is also used by {other.cls.__qualname__} "
                f"({other.file}:{other.line}); set `remote_config.name` to tell them apart",
            ))
    if problems:
        raise_problems(problems)
