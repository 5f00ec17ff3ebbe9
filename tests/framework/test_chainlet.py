"""`infra_chains/framework/chainlet.py`: problems collected per scope, guarded instantiation,
`mark_entrypoint`."""

import inspect
import pathlib
import textwrap
import types
from collections.abc import Callable

import pytest

import infra_chains as chains
from infra_chains.errors import DefinitionProblem
from infra_chains.framework.chainlet import (
    chainlets_in_module,
    definition_of,
    is_entrypoint,
)

ImportFile = Callable[[pathlib.Path, str], types.ModuleType]


def next_line() -> int:
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


def test_class_creation_does_not_raise_problems_are_reported_at_first_use() -> None:
    class Broken(chains.ChainletBase):
        pass

    with pytest.raises(chains.ChainsUsageError):
        definition_of(Broken)


def test_all_problems_of_a_scope_are_reported_together() -> None:
    first = next_line()
    class NoEndpoint(chains.ChainletBase):
        pass

    second = next_line()
    class NoReturn(chains.ChainletBase):
        def run_remote(self, x: int):  # type: ignore[no-untyped-def]
            return x

    third = next_line()
    class BadInit(chains.ChainletBase):
        def __init__(self, size: int = 3) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    class Fine(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    # Asking for any class of the scope, even a valid one, shows every problem of the scope.
    for cls in (NoEndpoint, NoReturn, BadInit, Fine):
        with pytest.raises(chains.ChainsUsageError) as info:
            definition_of(cls)
        error = info.value
        assert [(p.code, p.location, p.line) for p in error.problems] == [
            ("endpoint-missing", "NoEndpoint", first),
            ("endpoint-return", "NoReturn.run_remote", second + 1),
            ("init-argument", "BadInit.__init__", third + 1),
        ]
        lines = str(error).splitlines()
        assert lines[0] == "3 problems in the chain definition:"
        assert lines[1:] == [f"  {p}" for p in error.problems]


def test_problems_of_another_scope_are_not_reported() -> None:
    class Valid(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    definition = definition_of(Valid)
    assert definition.name == "Valid"
    assert definition.file == __file__


def test_problem_renders_file_line_location_and_code() -> None:
    problem = DefinitionProblem("endpoint-type", "/src/chain.py", 12, "Foo.run_remote", "bad type")
    assert str(problem) == "/src/chain.py:12 (Foo.run_remote) [endpoint-type]: bad type"
    assert repr(problem) == f"DefinitionProblem({str(problem)!r})"


def test_definition_of_rejects_non_chainlets() -> None:
    with pytest.raises(chains.ChainsUsageError, match="not a chainlet"):
        definition_of(int)  # type: ignore[arg-type]
    with pytest.raises(chains.ChainsUsageError, match="not a chainlet"):
        definition_of(chains.ChainletBase)


# --- instantiation outside a runtime -------------------------------------------------------------


def test_naive_instantiation_raises() -> None:
    class Plain(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsRuntimeError) as info:
        Plain()
    message = str(info.value)
    assert "`Plain`" in message and "chains.run_local()" in message and "push" in message


def test_naive_instantiation_with_own_init_raises_before_init_runs() -> None:
    calls: list[str] = []

    class WithInit(chains.ChainletBase):
        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            calls.append("init")

        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsRuntimeError, match="`WithInit` was instantiated directly"):
        WithInit()
    assert calls == []


def test_naive_instantiation_with_arguments_raises_runtime_error() -> None:
    class NoInit(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsRuntimeError, match="`NoInit` was instantiated directly"):
        NoInit(1)  # type: ignore[call-arg]


def test_subclass_inherits_the_guard() -> None:
    class Parent(chains.ChainletBase):
        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    class Child(Parent):
        pass

    assert definition_of(Child).context_arg == "context"
    with pytest.raises(chains.ChainsRuntimeError, match="`Child`"):
        Child()


# --- mark_entrypoint ---------------------------------------------------------------------------


def test_mark_entrypoint_returns_the_class() -> None:
    class Other(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    @chains.mark_entrypoint
    class Entry(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    assert is_entrypoint(Entry)
    assert not is_entrypoint(Other)
    assert definition_of(Entry).name == "Entry"


def test_mark_entrypoint_twice() -> None:
    first = next_line() + 2

    @chains.mark_entrypoint
    class First(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    second = next_line() + 2

    @chains.mark_entrypoint
    class Second(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(First)
    (problem,) = info.value.problems
    assert (problem.code, problem.location, problem.line, problem.file) == (
        "entrypoint-twice", "Second", second, __file__
    )
    assert f"`First` (line {first})" in problem.message
    assert f"{__file__}:{second} (Second) [entrypoint-twice]" in str(info.value)


def test_mark_entrypoint_rejects_non_chainlets() -> None:
    class NotAChainlet:
        pass

    with pytest.raises(chains.ChainsUsageError, match="expects a ChainletBase subclass"):
        chains.mark_entrypoint(NotAChainlet)  # type: ignore[type-var]


CHAIN_FILE = """
import infra_chains as chains

class Helper(chains.ChainletBase):
    def run_remote(self) -> int:
        return 1

@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, helper: Helper = chains.depends(Helper)) -> None:
        self.helper = helper

    def run_remote(self) -> int:
        return self.helper.run_remote() + 1
"""


def test_chainlets_in_module_lists_top_level_classes(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    path = tmp_path / "chain_listing.py"
    path.write_text(CHAIN_FILE)
    module = import_file(path, "chain_listing")
    assert chainlets_in_module("chain_listing") == [module.Helper, module.Entry]
    assert is_entrypoint(module.Entry)


def test_reimporting_a_file_replaces_its_chainlets(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    """A reload (or re-run notebook cell) defines the classes again: not a second entrypoint."""
    path = tmp_path / "chain_reimported.py"
    path.write_text(CHAIN_FILE)
    old = import_file(path, "chain_reimported")
    new = import_file(path, "chain_reimported")
    assert old.Entry is not new.Entry
    assert chainlets_in_module("chain_reimported") == [new.Helper, new.Entry]
    assert definition_of(new.Entry).dependencies[0].chainlet_cls is new.Helper
    with chains.run_local():
        assert new.Entry().run_remote() == 2


def test_reimporting_a_fixed_file_drops_the_old_problems(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    path = tmp_path / "chain_fixed.py"
    path.write_text(CHAIN_FILE.replace("def run_remote(self) -> int:\n        return 1", "pass"))
    broken = import_file(path, "chain_fixed")
    with pytest.raises(chains.ChainsUsageError, match="endpoint-missing"):
        definition_of(broken.Entry)
    path.write_text(CHAIN_FILE)
    fixed = import_file(path, "chain_fixed")
    assert definition_of(fixed.Entry).name == "Entry"


def test_problems_of_a_module_name_the_module_file(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    path = tmp_path / "chain_broken.py"
    path.write_text(textwrap.dedent("""
        import infra_chains as chains

        class Broken(chains.ChainletBase):
            def run_remote(self, *args: int) -> int:
                return 1
    """))
    module = import_file(path, "chain_broken")
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(module.Broken)
    assert f"{path}:5 (Broken.run_remote) [endpoint-varargs]" in str(info.value)


def test_entrypoint_twice_survives_deferred_annotations(tmp_path: pathlib.Path, import_file: ImportFile) -> None:
    path = tmp_path / "chain_two_entrypoints.py"
    path.write_text(textwrap.dedent("""
        import pydantic
        import infra_chains as chains

        @chains.mark_entrypoint
        class First(chains.ChainletBase):
            def run_remote(self) -> "Result":
                return Result()

        @chains.mark_entrypoint
        class Second(chains.ChainletBase):
            def run_remote(self) -> "Result":
                return Result()

        class Result(pydantic.BaseModel):
            pass
    """))
    module = import_file(path, "chain_two_entrypoints")
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(module.Second)
    assert [(p.code, p.location, p.line) for p in info.value.problems] == [("entrypoint-twice", "Second", 11)]
