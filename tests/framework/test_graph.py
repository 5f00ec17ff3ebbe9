"""`infra_chains/framework/graph.py`: reachable chainlets in dependency order, cycles, names."""

import pathlib
import textwrap
import types
from collections.abc import Callable

import pytest

import infra_chains as chains
from infra_chains.framework.graph import build_graph

ImportFile = Callable[[pathlib.Path, str], types.ModuleType]


def test_dependencies_come_before_dependents_and_shared_ones_once() -> None:
    class D(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    class B(chains.ChainletBase):
        def __init__(self, d: D = chains.depends(D)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    class C(chains.ChainletBase):
        def __init__(self, d: D = chains.depends(D)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    class A(chains.ChainletBase):
        def __init__(self, b: B = chains.depends(B), c: C = chains.depends(C)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    class Unrelated(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    graph = build_graph(A)
    names = [c.name for c in graph.chainlets]
    assert sorted(names) == ["A", "B", "C", "D"]
    assert names[0] == "D" and names[-1] == "A"
    assert graph.entrypoint.cls is A
    assert graph.by_name("D").cls is D
    assert sorted(c.name for c in graph.dependents_of("D")) == ["B", "C"]
    assert graph.dependency_names(graph.by_name("A")) == ["B", "C"]
    with pytest.raises(KeyError):
        graph.by_name("Unrelated")


def test_graph_uses_remote_config_names() -> None:
    class Leaf(chains.ChainletBase):
        remote_config = chains.RemoteConfig(name="leaf-service")

        def run_remote(self) -> int:
            return 1

    class Root(chains.ChainletBase):
        def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    graph = build_graph(Root)
    assert [c.name for c in graph.chainlets] == ["leaf-service", "Root"]
    assert graph.dependency_names(graph.entrypoint) == ["leaf-service"]


def test_name_clash() -> None:
    class First(chains.ChainletBase):
        remote_config = chains.RemoteConfig(name="worker")

        def run_remote(self) -> int:
            return 1

    class Second(chains.ChainletBase):
        remote_config = chains.RemoteConfig(name="worker")

        def run_remote(self) -> int:
            return 1

    class Root(chains.ChainletBase):
        def __init__(self, a: First = chains.depends(First), b: Second = chains.depends(Second)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsUsageError) as info:
        build_graph(Root)
    (problem,) = info.value.problems
    assert problem.code == "name-clash"
    assert problem.location in ("First", "Second")
    assert "'worker'" in problem.message and "remote_config.name" in problem.message
    assert f"{__file__}:{problem.line} ({problem.location}) [name-clash]" in str(info.value)


def test_entrypoint_must_be_a_chainlet() -> None:
    with pytest.raises(chains.ChainsUsageError, match="must be a ChainletBase subclass"):
        build_graph(str)


def test_problems_of_a_dependency_scope_are_reported(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    path = tmp_path / "graph_dep_module.py"
    path.write_text(textwrap.dedent("""
        import infra_chains as chains

        class Dep(chains.ChainletBase):
            def run_remote(self) -> int:
                return 1

        class Broken(chains.ChainletBase):
            def run_remote(self, x) -> int:
                return 1
    """))
    module = import_file(path, "graph_dep_module")

    class Root(chains.ChainletBase):
        def __init__(self, dep: module.Dep = chains.depends(module.Dep)) -> None:  # type: ignore[name-defined]
            pass

        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsUsageError) as info:
        build_graph(Root)
    assert [(p.file, p.line, p.code) for p in info.value.problems] == [
        (str(path), 9, "endpoint-annotation")
    ]


def test_forward_references_resolve_once_the_file_has_loaded(
    tmp_path: pathlib.Path, import_file: ImportFile
) -> None:
    path = tmp_path / "graph_forward.py"
    path.write_text(textwrap.dedent("""
        import pydantic
        import infra_chains as chains

        class Dep(chains.ChainletBase):
            def run_remote(self) -> "Out":
                return Out(value=1)

        class Entry(chains.ChainletBase):
            def __init__(self, dep: Dep = chains.depends(Dep)) -> None:
                self.dep = dep

            def run_remote(self) -> "Out":
                return self.dep.run_remote()

        class Out(pydantic.BaseModel):
            value: int
    """))
    module = import_file(path, "graph_forward")
    graph = build_graph(module.Entry)
    assert [c.name for c in graph.chainlets] == ["Dep", "Entry"]
    assert graph.entrypoint.endpoint.return_annotation is module.Out
    with chains.run_local():
        assert module.Entry().run_remote() == module.Out(value=1)


def test_dependency_cycle_names_the_path(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    # `depends()` takes the class object itself, so a cycle cannot be written directly; this file
    # builds one by giving `A` its `__init__` after `B` exists (`A`'s analysis is deferred until
    # first use by the forward reference `"Later"`).
    path = tmp_path / "graph_cycle.py"
    path.write_text(textwrap.dedent("""
        import infra_chains as chains

        class A(chains.ChainletBase):
            def run_remote(self) -> "Later":
                return 1

        class B(chains.ChainletBase):
            def __init__(self, a: A = chains.depends(A)) -> None:
                pass

            def run_remote(self) -> int:
                return 1

        def _init_a(self, b: B = chains.depends(B)) -> None:
            pass

        A.__init__ = _init_a
        Later = int
    """))
    module = import_file(path, "graph_cycle")
    with pytest.raises(chains.ChainsUsageError) as info:
        build_graph(module.A)
    (problem,) = info.value.problems
    assert problem.code == "dependency-cycle"
    assert "A -> B -> A" in problem.message
    assert f"{path}:4 (A) [dependency-cycle]" in str(info.value)
