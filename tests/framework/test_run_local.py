"""`infra_chains/framework/run_local.py`: every guarantee of running a chain in-process."""

import asyncio
import concurrent.futures
import inspect
import pathlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import pydantic
import pytest

import infra_chains as chains


class Item(pydantic.BaseModel):
    text: str


class Settings(pydantic.BaseModel):
    prefix: str = ">"


def test_entrypoint_builds_the_whole_graph_each_chainlet_once() -> None:
    built: list[str] = []

    class D(chains.ChainletBase):
        def __init__(self) -> None:
            built.append("D")

        def run_remote(self, x: int) -> int:
            return x + 1

    class B(chains.ChainletBase):
        def __init__(self, d: D = chains.depends(D)) -> None:
            built.append("B")
            self.d = d

        def run_remote(self, x: int) -> int:
            return self.d.run_remote(x) * 2

    class C(chains.ChainletBase):
        def __init__(self, d: D = chains.depends(D)) -> None:
            built.append("C")
            self.d = d

        def run_remote(self, x: int) -> int:
            return self.d.run_remote(x) * 3

    class A(chains.ChainletBase):
        def __init__(self, b: B = chains.depends(B), c: C = chains.depends(C)) -> None:
            built.append("A")
            self.b, self.c = b, c

        def run_remote(self, x: int) -> int:
            return self.b.run_remote(x) + self.c.run_remote(x)

    with chains.run_local():
        a = A()
        assert isinstance(a, A)
        assert a.run_remote(1) == 2 * 2 + 2 * 3
    assert sorted(built) == ["A", "B", "C", "D"]
    assert built[0] == "D" and built[-1] == "A"
    assert isinstance(a.b, B) and isinstance(a.c, C)
    assert a.b.d is a.c.d
    assert isinstance(a.b.d, D)


def test_context_is_filled_per_chainlet(tmp_path: pathlib.Path) -> None:
    contexts: dict[str, chains.DeploymentContext] = {}

    class Leaf(chains.ChainletBase):
        remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["leaf_token"]))
        default_user_config = Settings(prefix="leaf:")

        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            contexts["Leaf"] = context

        def run_remote(self) -> str:
            return "leaf"

    class Named(chains.ChainletBase):
        remote_config = chains.RemoteConfig(name="named-service")

        def run_remote(self) -> str:
            return "named"

    class Root(chains.ChainletBase):
        remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["root_token", "absent"]))

        def __init__(
            self,
            leaf: Leaf = chains.depends(Leaf),
            named: Named = chains.depends(Named),
            context: chains.DeploymentContext = chains.depends_context(),
        ) -> None:
            contexts["Root"] = context

        def run_remote(self) -> str:
            return "root"

    services = {
        name: chains.ServiceDescriptor(name=name, predict_url=f"http://{name}.local/predict")
        for name in ("Leaf", "named-service", "Root", "Elsewhere")
    }
    secrets = {"leaf_token": "l", "root_token": "r", "other": "o"}
    with chains.run_local(
        secrets=secrets, data_dir=str(tmp_path), chainlet_to_service=services, user_env={"mode": "test"}
    ):
        Root()

    root, leaf = contexts["Root"], contexts["Leaf"]
    assert dict(root.secrets) == {"root_token": "r"}
    assert dict(leaf.secrets) == {"leaf_token": "l"}
    assert set(root.chainlet_to_service) == {"Leaf", "named-service"}
    assert root.get_service_descriptor("Leaf") is services["Leaf"]
    assert dict(leaf.chainlet_to_service) == {}
    with pytest.raises(chains.ChainsRuntimeError) as info:
        leaf.get_service_descriptor("Root")
    assert "'Root'" in str(info.value) and "none" in str(info.value)
    with pytest.raises(chains.ChainsRuntimeError, match="Leaf, named-service"):
        root.get_service_descriptor("Elsewhere")
    for context in (root, leaf):
        assert dict(context.user_env) == {"mode": "test"}
        assert context.data_dir == tmp_path
    assert leaf.user_config == Settings(prefix="leaf:")
    assert root.user_config is None


def test_context_defaults_without_arguments() -> None:
    contexts: list[chains.DeploymentContext] = []

    class Alone(chains.ChainletBase):
        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            contexts.append(context)

        def run_remote(self) -> int:
            return 1

    with chains.run_local():
        Alone()
    (context,) = contexts
    assert context.data_dir is None
    assert dict(context.secrets) == {}
    assert dict(context.user_env) == {}
    assert dict(context.chainlet_to_service) == {}


def test_pydantic_models_flow_through_unchanged() -> None:
    class Echo(chains.ChainletBase):
        def run_remote(self, item: Item) -> Item:
            return item

    class Entry(chains.ChainletBase):
        def __init__(self, echo: Echo = chains.depends(Echo)) -> None:
            self.echo = echo

        def run_remote(self, items: list[Item]) -> list[Item]:
            return [self.echo.run_remote(item) for item in items]

    items = [Item(text="a"), Item(text="b")]
    with chains.run_local():
        result = Entry().run_remote(items)
    assert all(out is item for out, item in zip(result, items, strict=True))


def _value(result: Any) -> Any:
    """A dependency's answer as a sync caller uses it: an async dependency's coroutine is run (on
    a thread of its own, since the caller may itself run inside an event loop)."""
    if not inspect.iscoroutine(result):
        return result
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, result).result()


async def _awaited(result: Any) -> Any:
    """A dependency's answer as an async caller uses it: an async dependency's is awaited."""
    return await result if inspect.isawaitable(result) else result


def _chain(entry_async: bool, middle_async: bool, leaf_async: bool) -> type[chains.ChainletBase]:
    """Entry -> Middle -> Leaf, each ``def`` or ``async def`` as asked; they double their input.

    Each caller calls its dependency as the dependency is defined (truss-chains' rule): awaited
    when the dependency is ``async def``, a plain call otherwise. All classes come from this one
    function body (one scope); each call defines them anew.
    """

    if leaf_async:
        class Leaf(chains.ChainletBase):
            async def run_remote(self, x: int) -> int:
                await asyncio.sleep(0)
                return x * 2
    else:
        class Leaf(chains.ChainletBase):  # type: ignore[no-redef]
            def run_remote(self, x: int) -> int:
                return x * 2

    if middle_async:
        class Middle(chains.ChainletBase):
            def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
                self.leaf = leaf

            async def run_remote(self, x: int) -> int:
                return int(await _awaited(self.leaf.run_remote(x))) * 2
    else:
        class Middle(chains.ChainletBase):  # type: ignore[no-redef]
            def __init__(self, leaf: Leaf = chains.depends(Leaf)) -> None:
                self.leaf = leaf

            def run_remote(self, x: int) -> int:
                return int(_value(self.leaf.run_remote(x))) * 2

    if entry_async:
        class Entry(chains.ChainletBase):
            def __init__(self, middle: Middle = chains.depends(Middle)) -> None:
                self.middle = middle

            async def run_remote(self, x: int) -> int:
                results = await asyncio.gather(_awaited(self.middle.run_remote(x)),
                                               _awaited(self.middle.run_remote(x + 1)))
                return sum(results)
    else:
        class Entry(chains.ChainletBase):  # type: ignore[no-redef]
            def __init__(self, middle: Middle = chains.depends(Middle)) -> None:
                self.middle = middle

            def run_remote(self, x: int) -> int:
                return int(_value(self.middle.run_remote(x))) + int(_value(self.middle.run_remote(x + 1)))

    return Entry


@pytest.mark.parametrize("entry_async", [False, True], ids=["sync-entry", "async-entry"])
@pytest.mark.parametrize("middle_async", [False, True], ids=["sync-middle", "async-middle"])
@pytest.mark.parametrize("leaf_async", [False, True], ids=["sync-leaf", "async-leaf"])
def test_sync_and_async_chainlets_call_each_other(entry_async: bool, middle_async: bool, leaf_async: bool) -> None:
    entry_cls = _chain(entry_async, middle_async, leaf_async)
    with chains.run_local():
        entry = entry_cls()
        result = entry.run_remote(3)  # type: ignore[attr-defined]
        if entry_async:
            result = asyncio.run(result)
    assert result == 3 * 4 + 4 * 4


def test_a_dependency_keeps_its_own_flavour_whoever_calls_it() -> None:
    """As in truss-chains: an async caller calls a sync dependency without ``await`` and gets
    the value; a sync caller of an async dependency gets a coroutine to run."""
    seen: dict[str, Any] = {}

    class SyncLeaf(chains.ChainletBase):
        def run_remote(self, x: int) -> int:
            return x + 1

    class AsyncLeaf(chains.ChainletBase):
        async def run_remote(self, x: int) -> int:
            return x + 2

    class AsyncEntry(chains.ChainletBase):
        def __init__(self, leaf: SyncLeaf = chains.depends(SyncLeaf)) -> None:
            self.leaf = leaf

        async def run_remote(self, x: int) -> int:
            seen["async caller"] = result = self.leaf.run_remote(x)
            return result

    class SyncEntry(chains.ChainletBase):
        def __init__(self, leaf: AsyncLeaf = chains.depends(AsyncLeaf)) -> None:
            self.leaf = leaf

        def run_remote(self, x: int) -> int:
            coroutine = self.leaf.run_remote(x)
            seen["sync caller"] = inspect.iscoroutine(coroutine)
            return asyncio.run(coroutine)

    with chains.run_local():
        assert asyncio.run(AsyncEntry().run_remote(1)) == 2
        assert SyncEntry().run_remote(1) == 3
    assert seen == {"async caller": 2, "sync caller": True}


def test_exceptions_of_user_code_propagate_unchanged() -> None:
    class Failing(chains.ChainletBase):
        async def run_remote(self, x: int) -> int:
            raise ValueError(f"bad {x}")

    class Entry(chains.ChainletBase):
        def __init__(self, failing: Failing = chains.depends(Failing)) -> None:
            self.failing = failing

        async def run_remote(self, x: int) -> int:
            return await self.failing.run_remote(x)

    with chains.run_local():
        entry = Entry()
        with pytest.raises(ValueError, match="bad 7"):
            asyncio.run(entry.run_remote(7))


def test_instantiation_outside_run_local_raises_again_after_it() -> None:
    class Solo(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with chains.run_local():
        assert Solo().run_remote() == 1
    with pytest.raises(chains.ChainsRuntimeError, match="`Solo` was instantiated directly"):
        Solo()


def test_run_local_is_left_cleanly_after_an_error() -> None:
    class Solo(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with pytest.raises(KeyError), chains.run_local():
        raise KeyError("boom")
    with pytest.raises(chains.ChainsRuntimeError):
        Solo()
    with chains.run_local():  # not "already active"
        assert Solo().run_remote() == 1


def test_instantiation_inside_another_chainlets_init_raises() -> None:
    class Inner(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    class Outer(chains.ChainletBase):
        def __init__(self) -> None:
            self.inner = Inner()

        def run_remote(self) -> int:
            return 1

    with chains.run_local(), pytest.raises(chains.ChainsRuntimeError) as info:
        Outer()
    message = str(info.value)
    assert "`Inner` was instantiated inside chainlet `Outer`" in message
    assert "chains.depends(Inner)" in message


@pytest.mark.parametrize("endpoint_async", [False, True], ids=["def", "async-def"])
def test_instantiation_inside_run_remote_raises(endpoint_async: bool) -> None:
    class Inner(chains.ChainletBase):
        def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    if endpoint_async:
        class Outer(chains.ChainletBase):
            async def run_remote(self) -> int:
                return Inner().run_remote()
    else:
        class Outer(chains.ChainletBase):  # type: ignore[no-redef]
            def run_remote(self) -> int:
                return Inner().run_remote()

    with chains.run_local():
        outer = Outer()
        with pytest.raises(chains.ChainsRuntimeError, match="`Inner` was instantiated inside chainlet `Outer`"):
            result = outer.run_remote()
            if endpoint_async:
                asyncio.run(result)  # type: ignore[arg-type]


def test_arguments_other_than_dependencies_and_context_are_an_error() -> None:
    # Dependencies passed by name are fakes (tests/framework/test_fakes.py); anything else is not.
    class Dep(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    class Entry(chains.ChainletBase):
        def __init__(self, dep: Dep = chains.depends(Dep)) -> None:
            self.dep = dep

        def run_remote(self) -> int:
            return 1

    class Bare(chains.ChainletBase):
        def run_remote(self) -> int:
            return 1

    with chains.run_local():
        with pytest.raises(chains.ChainsRuntimeError, match=r"`Entry\(\.\.\.\)` was given `other`"):
            Entry(other=object())  # type: ignore[call-arg]
        with pytest.raises(chains.ChainsRuntimeError, match="positional arguments"):
            Entry(object())  # type: ignore[arg-type]
        with pytest.raises(chains.ChainsRuntimeError, match=r"`Bare\(\.\.\.\)` was given positional"):
            Bare(1)  # type: ignore[call-arg]


def test_nesting_run_local_is_an_error() -> None:
    with chains.run_local(), pytest.raises(chains.ChainsRuntimeError, match="already active"):  # noqa: SIM117
        with chains.run_local():
            pass  # pragma: no cover


def test_definition_problems_surface_on_instantiation() -> None:
    class Broken(chains.ChainletBase):
        def run_remote(self, x) -> int:  # type: ignore[no-untyped-def]
            return 1

    class Entry(chains.ChainletBase):
        def __init__(self, broken: Broken = chains.depends(Broken)) -> None:
            pass

        def run_remote(self) -> int:
            return 1

    with chains.run_local(), pytest.raises(chains.ChainsUsageError) as info:
        Entry()
    assert [p.code for p in info.value.problems] == ["endpoint-annotation"]


def test_run_remote_keeps_its_defaults() -> None:
    class Greeter(chains.ChainletBase):
        def run_remote(self, name: str, punctuation: str = "!") -> str:
            return f"Hello, {name}{punctuation}"

    class Entry(chains.ChainletBase):
        def __init__(self, greeter: Greeter = chains.depends(Greeter)) -> None:
            self.greeter = greeter

        async def run_remote(self, name: str) -> str:
            return self.greeter.run_remote(name=name)

    with chains.run_local():
        assert asyncio.run(Entry().run_remote("Ada")) == "Hello, Ada!"


def test_dependencies_are_shared_by_the_entrypoints_of_one_block() -> None:
    # As in truss-chains (its itest_chain's SplitTextFailOnce fails once, then a second
    # `ItestChain()` in the same block succeeds): a dependency's state survives `Entry()`.
    class Counter(chains.ChainletBase):
        def __init__(self) -> None:
            self.calls = 0

        def run_remote(self) -> int:
            self.calls += 1
            return self.calls

    class Entry(chains.ChainletBase):
        def __init__(self, counter: Counter = chains.depends(Counter)) -> None:
            self.counter = counter

        def run_remote(self) -> int:
            return self.counter.run_remote()

    with chains.run_local():
        first, second = Entry(), Entry()
        assert first is not second
        assert (first.run_remote(), second.run_remote()) == (1, 2)
    with chains.run_local():
        assert Entry().run_remote() == 1  # a new block builds its own


# -- streaming ------------------------------------------------------------------------------------
class Producer(chains.ChainletBase):
    async def run_remote(self, count: int, fail: bool = False) -> AsyncIterator[str]:
        for i in range(count):
            yield f"p{i} "
        if fail:
            raise ValueError("producer failed")


class Relay(chains.ChainletBase):
    """Returns its dependency's stream without `yield` (a relay)."""

    def __init__(self, producer: Producer = chains.depends(Producer)) -> None:
        self._producer = producer

    async def run_remote(self, count: int, fail: bool = False) -> AsyncIterator[str]:
        return self._producer.run_remote(count, fail)


class StreamConsumer(chains.ChainletBase):
    def __init__(self, relay: Relay = chains.depends(Relay)) -> None:
        self._relay = relay

    async def run_remote(self, count: int, fail: bool = False) -> str:
        # As with a deployed stub: the stream itself, not awaited, also from a relay.
        return "".join([part async for part in self._relay.run_remote(count, fail)])


class SyncConsumer(chains.ChainletBase):
    def __init__(self, producer: Producer = chains.depends(Producer)) -> None:
        self._producer = producer

    def run_remote(self) -> str:
        return str(self._producer.run_remote(1))


def test_streams_and_relays_run_in_process() -> None:
    with chains.run_local():
        consumer = StreamConsumer()
        assert asyncio.run(consumer.run_remote(3)) == "p0 p1 p2 "
        with pytest.raises(ValueError, match="producer failed"):
            asyncio.run(consumer.run_remote(1, fail=True))


def test_a_sync_chainlet_cannot_read_a_stream() -> None:
    with chains.run_local():
        with pytest.raises(chains.ChainsRuntimeError, match="async def run_remote"):
            SyncConsumer().run_remote()
