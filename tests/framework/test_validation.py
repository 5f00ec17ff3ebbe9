"""One test per definition rule of `infra_chains/framework/validation.py`.

Each test defines a broken chainlet in its own function (its own scope), asks for its definition
and checks the one problem reported: its stable code, the class and member, and the line.
"""

import datetime
import enum
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, Optional

import numpy as np
import numpy.typing as npt
import pydantic
import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import definition_of


def next_line() -> int:
    """The line after the caller's, i.e. where the `class` statement below it starts."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


def single_problem(cls: type[chains.ChainletBase], code: str, location: str, line: int) -> str:
    """Assert ``cls``'s scope has exactly one problem, as given; return its message."""
    with pytest.raises(chains.ChainsUsageError) as info:
        definition_of(cls)
    (problem,) = info.value.problems
    assert (problem.code, problem.location, problem.line) == (code, location, line)
    assert problem.file == __file__
    assert f"{__file__}:{line} ({location}) [{code}]: {problem.message}" in str(info.value)
    return problem.message


class Model(pydantic.BaseModel):
    text: str


class Color(enum.Enum):
    RED = "red"


# --- the endpoint ---------------------------------------------------------------------------


def test_endpoint_missing() -> None:
    line = next_line()
    class NoEndpoint(chains.ChainletBase):
        def predict(self, x: int) -> int:
            return x

    message = single_problem(NoEndpoint, "endpoint-missing", "NoEndpoint", line)
    assert "def run_remote(self" in message


def test_endpoint_not_method() -> None:
    line = next_line()
    class Static(chains.ChainletBase):
        @staticmethod
        def run_remote(x: int) -> int:
            return x

    message = single_problem(Static, "endpoint-not-method", "Static.run_remote", line)
    assert "staticmethod" in message


def test_endpoint_streaming() -> None:
    line = next_line()
    class Streams(chains.ChainletBase):
        def run_remote(self, n: int) -> Any:
            yield from range(n)

    message = single_problem(Streams, "endpoint-streaming", "Streams.run_remote", line + 1)
    assert "streaming" in message


def test_endpoint_async_generator_is_streaming() -> None:
    line = next_line()
    class StreamsAsync(chains.ChainletBase):
        async def run_remote(self, n: int) -> Any:
            yield n

    single_problem(StreamsAsync, "endpoint-streaming", "StreamsAsync.run_remote", line + 1)


@pytest.mark.parametrize("item", [str, bytes])
def test_streaming_endpoints_yield_or_return_str_or_bytes(item: type[Any]) -> None:
    class Yields(chains.ChainletBase):
        async def run_remote(self, n: int) -> AsyncIterator[item]:  # type: ignore[valid-type]
            yield item()

    class Relays(chains.ChainletBase):  # beyond truss-chains: returns a stream, e.g. a dependency's
        async def run_remote(self, n: int) -> AsyncIterator[item]:  # type: ignore[valid-type]
            return Yields().run_remote(n)  # type: ignore[no-any-return]

    for cls in (Yields, Relays):
        endpoint = definition_of(cls).endpoint
        assert (endpoint.stream_item, endpoint.is_async) == (item, True)
        assert [p.name for p in endpoint.params] == ["n"]


def test_streaming_items_other_than_str_or_bytes_point_to_stream_writer() -> None:
    line = next_line()
    class StreamsModels(chains.ChainletBase):
        async def run_remote(self) -> AsyncIterator[Model]:
            yield Model(text="x")

    message = single_problem(StreamsModels, "endpoint-streaming", "StreamsModels.run_remote",
                             line + 1)
    assert "AsyncIterator[str]" in message and "stream_writer" in message


def test_a_plain_def_cannot_stream() -> None:
    line = next_line()
    class SyncStream(chains.ChainletBase):
        def run_remote(self) -> Iterator[str]:
            yield "x"

    message = single_problem(SyncStream, "endpoint-streaming", "SyncStream.run_remote", line + 1)
    assert "async def" in message


def test_a_plain_def_cannot_return_a_stream() -> None:
    line = next_line()
    class SyncReturn(chains.ChainletBase):
        def run_remote(self) -> AsyncIterator[str]:
            raise NotImplementedError

    message = single_problem(SyncReturn, "endpoint-streaming", "SyncReturn.run_remote", line + 1)
    assert "plain `def`" in message and "async def" in message


def test_endpoint_self() -> None:
    line = next_line()
    class NoSelf(chains.ChainletBase):
        def run_remote(this, x: int) -> int:
            return x

    message = single_problem(NoSelf, "endpoint-self", "NoSelf.run_remote", line + 1)
    assert "`this`" in message


def test_endpoint_without_any_argument_lacks_self() -> None:
    line = next_line()
    class NoArgs(chains.ChainletBase):
        def run_remote() -> int:  # type: ignore[misc]
            return 1

    single_problem(NoArgs, "endpoint-self", "NoArgs.run_remote", line + 1)


@pytest.mark.parametrize("star", ["args", "kwargs"])
def test_endpoint_varargs(star: str) -> None:
    line = next_line()
    class Varargs(chains.ChainletBase):
        if star == "args":
            def run_remote(self, *items: int) -> int:
                return len(items)
        else:
            def run_remote(self, **items: int) -> int:
                return len(items)

    offset = 2 if star == "args" else 5
    message = single_problem(Varargs, "endpoint-varargs", "Varargs.run_remote", line + offset)
    assert "items" in message


def test_endpoint_positional_only() -> None:
    line = next_line()
    class PositionalOnly(chains.ChainletBase):
        def run_remote(self, x: int, /) -> int:
            return x

    message = single_problem(PositionalOnly, "endpoint-positional-only", "PositionalOnly.run_remote", line + 1)
    assert "`x`" in message and "/" in message


def test_endpoint_annotation() -> None:
    line = next_line()
    class Unannotated(chains.ChainletBase):
        def run_remote(self, x) -> int:  # type: ignore[no-untyped-def]
            return 1

    message = single_problem(Unannotated, "endpoint-annotation", "Unannotated.run_remote", line + 1)
    assert "`x`" in message and "annotate" in message


def test_endpoint_type_of_argument() -> None:
    line = next_line()
    class Opaque:
        pass

    class BadArg(chains.ChainletBase):
        def run_remote(self, x: Opaque) -> int:
            return 1

    message = single_problem(BadArg, "endpoint-type", "BadArg.run_remote", line + 4)
    assert "`x`" in message and "Opaque" in message and "pydantic models" in message


def test_endpoint_type_of_return_value() -> None:
    line = next_line()
    class BadReturn(chains.ChainletBase):
        def run_remote(self) -> dict[Model, int]:
            return {}

    message = single_problem(BadReturn, "endpoint-type", "BadReturn.run_remote", line + 1)
    assert "return type" in message and "dict key" in message


def test_endpoint_return() -> None:
    line = next_line()
    class NoReturn(chains.ChainletBase):
        def run_remote(self, x: int):  # type: ignore[no-untyped-def]
            return x

    message = single_problem(NoReturn, "endpoint-return", "NoReturn.run_remote", line + 1)
    assert "-> None" in message


def test_annotation_unresolved() -> None:
    line = next_line()
    class Forward(chains.ChainletBase):
        def run_remote(self, x: "NotDefinedAnywhere") -> int:  # type: ignore[name-defined]  # noqa: F821
            return 1

    message = single_problem(Forward, "annotation-unresolved", "Forward.run_remote", line + 1)
    assert "NotDefinedAnywhere" in message


def test_annotation_invalid() -> None:
    line = next_line()
    class Garbled(chains.ChainletBase):
        def run_remote(self, x: "list[") -> int:  # type: ignore[valid-type]
            return 1

    single_problem(Garbled, "annotation-invalid", "Garbled.run_remote", line + 1)


@pytest.mark.parametrize(
    "annotation",
    [str, int, float, bool, None, list[int], dict[str, Model], tuple[int, ...], Optional[Model],  # noqa: UP045 - Optional itself is under test
     int | None, Literal["a", "b"], Color, datetime.datetime, bytes, np.ndarray,
     npt.NDArray[np.float32], Any],
)
def test_supported_endpoint_types(annotation: Any) -> None:
    class Supported(chains.ChainletBase):
        def run_remote(self, x: annotation) -> annotation:  # type: ignore[valid-type]
            return x

    definition = definition_of(Supported)
    (param,) = definition.endpoint.params
    expected = type(None) if annotation is None else annotation
    assert (param.name, param.annotation) == ("x", expected)
    assert definition.endpoint.return_annotation == expected


def test_endpoint_definition_describes_run_remote() -> None:
    class Described(chains.ChainletBase):
        async def run_remote(self, data: bytes, model: Model, flag: bool = False) -> list[int]:
            return []

    endpoint = definition_of(Described).endpoint
    assert endpoint.is_async
    assert [(p.name, p.has_default) for p in endpoint.params] == [
        ("data", False), ("model", False), ("flag", True)
    ]
    assert endpoint.params[2].default is False
    assert endpoint.return_annotation == list[int]
    assert endpoint.uses_binary


def test_json_endpoint_does_not_use_binary() -> None:
    class Plain(chains.ChainletBase):
        def run_remote(self, model: Model) -> str:
            return model.text

    endpoint = definition_of(Plain).endpoint
    assert not endpoint.is_async
    assert not endpoint.uses_binary


# --- __init__ ---------------------------------------------------------------------------------


class Dep(chains.ChainletBase):
    def run_remote(self) -> int:
        return 1


def test_init_argument() -> None:
    line = next_line()
    class TakesValue(chains.ChainletBase):
        def __init__(self, threshold: float = 0.5) -> None:
            self.threshold = threshold

        def run_remote(self) -> int:
            return 1

    message = single_problem(TakesValue, "init-argument", "TakesValue.__init__", line + 1)
    assert "`threshold`" in message and "user_config" in message


def test_init_varargs() -> None:
    line = next_line()
    class InitVarargs(chains.ChainletBase):
        def __init__(self, **deps: Any) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    message = single_problem(InitVarargs, "init-varargs", "InitVarargs.__init__", line + 1)
    assert "deps" in message


def test_init_context_position() -> None:
    line = next_line()
    class ContextFirst(chains.ChainletBase):
        def __init__(
            self,
            context: chains.DeploymentContext = chains.depends_context(),
            dep: Dep = chains.depends(Dep),
        ) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    message = single_problem(ContextFirst, "init-context-position", "ContextFirst.__init__", line + 1)
    assert "`context`" in message and "last" in message


def test_init_context_twice() -> None:
    line = next_line()
    class TwoContexts(chains.ChainletBase):
        def __init__(
            self,
            context: chains.DeploymentContext = chains.depends_context(),
            again: chains.DeploymentContext = chains.depends_context(),
        ) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    message = single_problem(TwoContexts, "init-context-twice", "TwoContexts.__init__", line + 1)
    assert "`again`" in message


def test_dependency_type() -> None:
    line = next_line()
    class DependsOnModel(chains.ChainletBase):
        def __init__(self, model: Model = chains.depends(Model)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    message = single_problem(DependsOnModel, "dependency-type", "DependsOnModel.__init__", line + 1)
    assert "Model" in message and "ChainletBase" in message


def test_valid_init_is_described() -> None:
    class Wired(chains.ChainletBase):
        def __init__(
            self,
            dep: Dep = chains.depends(Dep, retries=3, timeout_sec=5.0),
            context: chains.DeploymentContext = chains.depends_context(),
        ) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    definition = definition_of(Wired)
    (dependency,) = definition.dependencies
    assert (dependency.arg_name, dependency.chainlet_cls, dependency.is_chainlet) == ("dep", Dep, True)
    assert dependency.options == chains.RPCOptions(retries=3, timeout_sec=5.0)
    assert definition.context_arg == "context"


def test_chainlet_without_init_has_no_dependencies() -> None:
    definition = definition_of(Dep)
    assert definition.dependencies == ()
    assert definition.context_arg is None


# --- class variables --------------------------------------------------------------------------


def test_remote_config_type() -> None:
    line = next_line()
    class DictConfig(chains.ChainletBase):
        remote_config = {"compute": {"cpu_count": 2}}  # type: ignore[assignment]  # noqa: RUF012

        def run_remote(self) -> int:
            return 1

    message = single_problem(DictConfig, "remote-config-type", "DictConfig.remote_config", line)
    assert "chains.RemoteConfig(" in message and "dict" in message


def test_user_config_type() -> None:
    line = next_line()
    class DictUserConfig(chains.ChainletBase):
        default_user_config = {"threshold": 0.5}  # noqa: RUF012

        def run_remote(self) -> int:
            return 1

    message = single_problem(DictUserConfig, "user-config-type", "DictUserConfig.default_user_config", line)
    assert "pydantic model" in message and "dict" in message


def test_config_class_variables_are_described() -> None:
    class Settings(pydantic.BaseModel):
        threshold: float = 0.5

    class Configured(chains.ChainletBase):
        remote_config = chains.RemoteConfig(name="configured", compute=chains.Compute(cpu_count=2))
        default_user_config = Settings()

        def run_remote(self) -> int:
            return 1

        def is_healthy(self) -> bool:
            return True

    definition = definition_of(Configured)
    assert definition.name == "configured"
    assert definition.remote_config.compute.cpu_count == 2
    assert definition.default_user_config == Settings()
    assert definition.has_health_check and not definition.health_check_is_async


def test_health_check_signature_arguments() -> None:
    line = next_line()
    class HealthArgs(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

        def is_healthy(self, deep: bool) -> bool:
            return True

    message = single_problem(HealthArgs, "health-check-signature", "HealthArgs.is_healthy", line + 4)
    assert "only `self`" in message


def test_health_check_signature_return_type() -> None:
    line = next_line()
    class HealthInt(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

        def is_healthy(self) -> int:
            return 1

    message = single_problem(HealthInt, "health-check-signature", "HealthInt.is_healthy", line + 4)
    assert "bool" in message


def test_health_check_must_be_a_method() -> None:
    line = next_line()
    class HealthAttr(chains.ChainletBase):
        is_healthy = True

        def run_remote(self) -> int:
            return 1

    single_problem(HealthAttr, "health-check-signature", "HealthAttr.is_healthy", line)


def test_async_health_check_is_described() -> None:
    class AsyncHealth(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

        async def is_healthy(self) -> bool:
            return True

    definition = definition_of(AsyncHealth)
    assert definition.has_health_check and definition.health_check_is_async
