"""Testing a chain with fakes inside `run_local` (`infra_chains/framework/run_local.py`).

The pattern truss-chains documents and its examples use: construct the chainlet under test with
the dependencies (and context) it should get, e.g. ``PoemGenerator(mistral_llm=FakeLLM())``.
"""

import asyncio
import pathlib
from typing import Protocol

import pydantic
import pytest

import infra_chains as chains


class Heavy(chains.ChainletBase):
    """Stands in for a model chainlet: building it in a test is the failure."""

    def __init__(self) -> None:
        raise AssertionError("Heavy was built although a fake was given")

    async def run_remote(self, data: str) -> str:
        return data


class LLMProtocol(Protocol):
    async def run_remote(self, data: str) -> str: ...


class PoemGenerator(chains.ChainletBase):
    # Annotated with a Protocol, as truss-chains' mistral example does: any object with a
    # matching `run_remote` may stand in.
    def __init__(self, llm: LLMProtocol = chains.depends(Heavy)) -> None:
        self._llm = llm

    async def run_remote(self, words: list[str]) -> dict[str, str]:
        poems = await asyncio.gather(*(self._llm.run_remote(f"poem: {w}") for w in words))
        return dict(zip(words, poems, strict=True))


class FakeLLM:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def run_remote(self, data: str) -> str:
        self.calls.append(data)
        return data.upper()


def test_a_fake_dependency_is_used_and_the_real_one_never_built() -> None:
    fake = FakeLLM()
    with chains.run_local():
        generator = PoemGenerator(llm=fake)
        result = asyncio.run(generator.run_remote(words=["apple", "pear"]))
    assert result == {"apple": "POEM: APPLE", "pear": "POEM: PEAR"}
    assert fake.calls == ["poem: apple", "poem: pear"]


def test_outside_run_local_passing_a_fake_is_still_naive_instantiation() -> None:
    with pytest.raises(chains.ChainsRuntimeError, match="instantiated directly"):
        PoemGenerator(llm=FakeLLM())


# The RAG example's shape: a fake for one dependency, the other built as usual.
class VectorStore(chains.ChainletBase):
    def __init__(self) -> None:
        raise AssertionError("VectorStore was built although a fake was given")

    def run_remote(self, query: str) -> list[str]:
        return []


class Counter(chains.ChainletBase):
    built = 0

    def __init__(self) -> None:
        type(self).built += 1

    def run_remote(self, text: str) -> int:
        return len(text)


class Summarizer(chains.ChainletBase):
    def __init__(self, counter: Counter = chains.depends(Counter)) -> None:
        self.counter = counter

    def run_remote(self, texts: list[str]) -> int:
        return sum(self.counter.run_remote(t) for t in texts)


class RAG(chains.ChainletBase):
    def __init__(
        self,
        vector_store: VectorStore = chains.depends(VectorStore),
        summarizer: Summarizer = chains.depends(Summarizer),
        context: chains.DeploymentContext = chains.depends_context(),
    ) -> None:
        self.vector_store = vector_store
        self.summarizer = summarizer
        self.context = context

    def run_remote(self, query: str) -> int:
        return self.summarizer.run_remote(self.vector_store.run_remote(query))


class FakeVectorStore:
    def run_remote(self, query: str) -> list[str]:
        return [query, query * 2]


def test_dependencies_not_given_are_built_below_the_fake() -> None:
    Counter.built = 0
    with chains.run_local():
        rag = RAG(vector_store=FakeVectorStore())  # type: ignore[arg-type]
        assert rag.run_remote("ab") == 2 + 4
    assert isinstance(rag.summarizer, Summarizer)
    assert isinstance(rag.summarizer.counter, Counter) and Counter.built == 1
    assert isinstance(rag.context, chains.DeploymentContext)


def test_every_dependency_and_the_context_may_be_given(tmp_path: pathlib.Path) -> None:
    class Settings(pydantic.BaseModel):
        top_k: int = 3

    context = chains.DeploymentContext(
        data_dir=tmp_path, user_config=Settings(top_k=7), secrets={"token": "t"}
    )

    class FakeSummarizer:
        def run_remote(self, texts: list[str]) -> int:
            return -len(texts)

    Counter.built = 0
    with chains.run_local(secrets={"token": "other"}):
        rag = RAG(
            vector_store=FakeVectorStore(),  # type: ignore[arg-type]
            summarizer=FakeSummarizer(),  # type: ignore[arg-type]
            context=context,
        )
        assert rag.run_remote("x") == -2
    assert rag.context is context
    assert Counter.built == 0  # only the faked Summarizer needed it


def test_a_fake_is_used_as_given_without_a_sync_async_adapter() -> None:
    # A deployed stub follows its caller's flavour; a fake is the test's own object, untouched.
    fake = FakeVectorStore()
    with chains.run_local():
        rag = RAG(vector_store=fake)  # type: ignore[arg-type]
    assert rag.vector_store is fake


def test_a_chainlet_instance_may_be_passed_as_a_dependency() -> None:
    class FixedStore(chains.ChainletBase):
        def run_remote(self, query: str) -> list[str]:
            return ["fixed"]

    with chains.run_local():
        store = FixedStore()
        rag = RAG(vector_store=store)  # type: ignore[arg-type]
        assert rag.vector_store is store
        assert rag.run_remote("q") == len("fixed")


def test_a_context_that_is_not_a_deployment_context_is_refused() -> None:
    with chains.run_local(), pytest.raises(chains.ChainsRuntimeError, match=r"context=.*dict.*DeploymentContext"):
        RAG(vector_store=FakeVectorStore(), context={"secrets": {}})  # type: ignore[arg-type]


def test_an_unknown_argument_names_the_accepted_ones() -> None:
    with chains.run_local(), pytest.raises(chains.ChainsRuntimeError) as info:
        RAG(vectorstore=FakeVectorStore())  # type: ignore[call-arg]
    message = str(info.value)
    assert "`vectorstore`" in message
    assert "`vector_store`, `summarizer`, `context`" in message


def test_fakes_inside_a_chainlet_are_still_naive_instantiation() -> None:
    class Builder(chains.ChainletBase):
        def run_remote(self) -> str:
            PoemGenerator(llm=FakeLLM())
            return "unreachable"

    with chains.run_local():
        builder = Builder()
        with pytest.raises(chains.ChainsRuntimeError, match="inside chainlet `Builder`"):
            builder.run_remote()


def test_naive_instantiation_says_what_truss_chains_says() -> None:
    # truss-chains' tests match this phrase (tests/test_framework.py, test_raises_init_in_*).
    with pytest.raises(chains.ChainsRuntimeError, match="Chainlets cannot be naively instantiated"):
        PoemGenerator()

    class Builder(chains.ChainletBase):
        def run_remote(self) -> str:
            Counter()
            return "unreachable"

    with chains.run_local():
        builder = Builder()
        with pytest.raises(chains.ChainsRuntimeError, match="Chainlets cannot be naively instantiated"):
            builder.run_remote()
