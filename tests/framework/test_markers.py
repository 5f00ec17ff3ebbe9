"""`infra_chains/framework/markers.py`: `depends` / `depends_context` markers."""

import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import definition_of


class Dep(chains.ChainletBase):
    def run_remote(self) -> int:
        return 1


def test_depends_defaults_match_truss_chains() -> None:
    class User(chains.ChainletBase):
        def __init__(self, dep: Dep = chains.depends(Dep)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    (dependency,) = definition_of(User).dependencies
    assert dependency.options == chains.RPCOptions(
        retries=1, timeout_sec=600.0, use_binary=False, concurrency_limit=300
    )


def test_depends_options_are_validated() -> None:
    with pytest.raises(chains.ChainsUsageError, match="retries=0 in `depends"):
        chains.depends(Dep, retries=0)
    with pytest.raises(chains.ChainsUsageError, match="timeout_sec"):
        chains.depends(Dep, timeout_sec=0)
    with pytest.raises(chains.ChainsUsageError, match="concurrency_limit"):
        chains.depends(Dep, concurrency_limit=0)


def test_bad_depends_option_names_the_chainlet_and_line() -> None:
    with pytest.raises(chains.ChainsUsageError) as info:

        class User(chains.ChainletBase):
            def __init__(
                self,
                dep: Dep = chains.depends(Dep, retries=0),
            ) -> None:
                pass

            def run_remote(self) -> int:
                return 1

    (problem,) = info.value.problems
    assert problem.file == __file__ and problem.code == "depends-options"
    assert problem.location.endswith("User.__init__")
    with open(__file__) as source:
        assert "chains.depends(Dep, retries=0)" in source.readlines()[problem.line - 1]
    assert str(problem).endswith(
        "[depends-options]: retries=0 in `depends(Dep, ...)`: input should be greater than or "
        "equal to 1 — change `retries`; see help(chains.depends)"
    )


def test_retries_docstring_says_attempts_in_total() -> None:
    assert chains.depends.__doc__ is not None
    assert "attempts" in chains.depends.__doc__ and "1 = no retry" in chains.depends.__doc__


def test_uninjected_dependency_explains_itself() -> None:
    marker = chains.depends(Dep, retries=2)
    with pytest.raises(AttributeError) as info:
        marker.run_remote()
    assert "`Dep` was not injected" in str(info.value) and "run_local" in str(info.value)
    assert repr(marker).startswith("depends(Dep, ")


def test_uninjected_markers_raise_chains_runtime_error_as_truss_chains_does() -> None:
    # truss-chains: "`chains.depends(Chainlet1)` was used, but not as an argument to the
    # `__init__`" is a ChainsRuntimeError; it stays an AttributeError for hasattr/getattr.
    class InlinedDepends(chains.ChainletBase):
        def __init__(self) -> None:
            self.dep = chains.depends(Dep)

        def run_remote(self) -> str:
            return str(self.dep.run_remote())

    with chains.run_local():
        chain = InlinedDepends()
        with pytest.raises(chains.ChainsRuntimeError, match=r"chains.depends\(Dep\)` is only a marker"):
            chain.run_remote()
    with pytest.raises(chains.ChainsRuntimeError, match="depends_context\\(\\)` is only a marker"):
        chains.depends_context().secrets  # noqa: B018
    assert not hasattr(chains.depends(Dep), "run_remote")
    assert getattr(chains.depends_context(), "secrets", None) is None


def test_uninjected_context_explains_itself() -> None:
    marker = chains.depends_context()
    with pytest.raises(AttributeError, match="DeploymentContext was not injected"):
        marker.secrets  # noqa: B018
    assert repr(marker) == "depends_context()"
