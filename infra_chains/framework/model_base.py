"""`ModelBase`: a standalone model, truss-chains' single-model chainlet.

A model is a chainlet with three differences, all from truss-chains: its endpoint is ``predict``
(not ``run_remote``), its ``__init__`` takes no dependencies (only the optional context), and it
is its own entrypoint, so a file holds one model and nothing else marked as entrypoint. Everything
else is a chainlet's: ``remote_config``, ``is_healthy``, ``run_local``, ``push`` to every target
(plan and build see a one-chainlet chain; the serving runtime calls ``predict``).

It subclasses `ChainletBase` so that one validation, one runtime and one planner serve both; the
kind (`definition.MODEL_KIND`) is what tells validation which endpoint and ``__init__`` rules apply.
"""

from __future__ import annotations

from typing import Any, ClassVar

from infra_chains.errors import DefinitionProblem
from infra_chains.framework.chainlet import ChainletBase, _classes_in_scope
from infra_chains.framework.definition import MODEL_KIND, EntityKind


class ModelBase(ChainletBase):
    """Base class of a standalone model (truss-chains' ``chains.ModelBase``).

    Define ``predict`` (``def`` or ``async def``, every argument and the return value annotated)
    and optionally an ``__init__`` taking only ``context=chains.depends_context()``. The model is
    its file's entrypoint without ``@chains.mark_entrypoint``; one model per file::

        class HelloWorld(chains.ModelBase):
            def __init__(self, context: chains.DeploymentContext = chains.depends_context()):
                self._calls = 0

            def predict(self, increment: int) -> int:
                self._calls += increment
                return self._calls

    Deployed, it answers ``POST /run_remote`` with the JSON keyword arguments of ``predict``, like
    any chainlet; in tests, ``with chains.run_local(): HelloWorld().predict(2)``.
    """

    __infra_chains_kind__: ClassVar[EntityKind] = MODEL_KIND

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _mark_as_entrypoint(cls)


def _mark_as_entrypoint(cls: type[ModelBase]) -> None:
    """Make ``cls`` its file's entrypoint, or record why it cannot be (one per file)."""
    record = cls.__infra_chains_record__
    for other in _classes_in_scope(record.scope):
        other_record = other.__infra_chains_record__
        if other is cls or not other_record.entrypoint or other_record.file != record.file:
            continue
        what = "model" if issubclass(other, ModelBase) else "chainlet marked as entrypoint"
        # The code `entrypoint-twice` survives the re-analysis of a class whose annotations were
        # resolved late (chainlet._analyze keeps it), as `mark_entrypoint`'s own problem does.
        record.problems.append(DefinitionProblem(
            "entrypoint-twice", record.file, record.line, cls.__name__,
            f"this file already has a {what}, `{other.__name__}` (line {other_record.line}); a "
            "chains.ModelBase is its own entrypoint, so a file holds exactly one model and no "
            f"other entrypoint. Move `{cls.__name__}` to a file of its own",
        ))
        record.definition = None
        return
    record.entrypoint = True
