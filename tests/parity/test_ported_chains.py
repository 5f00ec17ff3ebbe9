"""truss-chains' own example and test chains, ported as a user would: the files in `chains/` are
copies with the import changed (``import infra_chains as chains``) and the placeholders the
examples ask for filled in. Each one imports with the same chainlets (names, entrypoint,
dependencies) as in truss-chains, and where it runs on a CPU, ``run_local`` gives what truss-chains'
tests and ``__main__`` blocks expect. Heavy model code is replaced by fakes here, in the test, the
way the examples' ``__main__`` blocks do it.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import pathlib
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

import infra_chains as chains
from infra_chains import deploy
from infra_chains.framework.chainlet import definition_of, is_entrypoint
from infra_chains.framework.graph import ChainGraph, build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.targets.local import LocalTarget

CHAINS = pathlib.Path(__file__).resolve().parent / "chains"
EXAMPLES = CHAINS / "examples"
TESTS = CHAINS / "tests"

def _graph(chain_file: pathlib.Path, entrypoint: str | None = None) -> ChainGraph:
    return build_graph(load_entrypoint(chain_file, entrypoint))


def _shape(graph: ChainGraph) -> dict[str, list[str]]:
    """chainlet name -> names of its chainlet dependencies."""
    return {c.name: sorted(graph.dependency_names(c)) for c in graph.chainlets}


# -- reference code (truss_chains/reference_code) ------------------------------------------
def test_reference_chainlet() -> None:
    graph = _graph(CHAINS / "reference_code" / "reference_chainlet.py")
    assert graph.entrypoint.name == "HelloWorld"
    assert _shape(graph) == {"RandInt": [], "HelloWorld": ["RandInt"]}
    assert graph.entrypoint.dependencies[0].options.retries == 3
    with chains.run_local():
        result = graph.entrypoint.cls().run_remote(max_value=5)
    assert re.fullmatch(r"(Hello World! ){1,5}", result)


def test_reference_model() -> None:
    entry = load_entrypoint(CHAINS / "reference_code" / "reference_model.py")
    assert entry.__name__ == "HelloWorld" and is_entrypoint(entry)
    assert issubclass(entry, chains.ModelBase)
    with chains.run_local():
        model = entry()
        assert (model.predict(2), model.predict(3)) == (2, 5)


# -- examples/ ------------------------------------------------------------------------------
def test_streaming_example_imports_with_its_chainlets() -> None:
    graph = _graph(EXAMPLES / "streaming" / "streaming_chain.py")
    assert graph.entrypoint.name == "Consumer"
    assert _shape(graph) == {"Generator": [], "StringGenerator": [],
                             "Consumer": ["Generator", "StringGenerator"]}


def test_streaming_example_runs_locally() -> None:
    # truss-chains' tests/test_e2e.py::test_streaming_chain_local.
    entry = load_entrypoint(EXAMPLES / "streaming" / "streaming_chain.py", "Consumer")
    with chains.run_local():
        result = asyncio.run(entry().run_remote(cause_error=False))
    assert result.header.msg == "Start."
    assert [c.words for c in result.chunks] == [
        ["G"], ["G", "HH"], ["G", "HH", "III"], ["G", "HH", "III", "JJJJ"],
    ]
    assert result.footer.duration_sec > 0
    assert result.strings == "First second last."


def test_rag_example_imports_with_its_chainlets() -> None:
    graph = _graph(EXAMPLES / "rag" / "rag_chain.py")
    assert graph.entrypoint.name == "RAG"
    assert _shape(graph) == {"VectorStore": [], "RAG": ["VectorStore"]}
    assert graph.by_name("VectorStore").remote_config.docker_image.pip_requirements == ["chromadb"]


class _FakePhi3(http.server.BaseHTTPRequestHandler):
    """The Phi-3 model server the RAG example calls: echoes the prompt and appends an answer."""

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        answer = json.dumps({"output": prompt + " Ravi and David would like to meet Sam."}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def fake_phi3() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakePhi3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/predict"
    server.shutdown()
    server.server_close()


@pytest.mark.servers
def test_rag_example_runs_locally_with_a_fake_vector_store(fake_phi3: str) -> None:
    entry = load_entrypoint(EXAMPLES / "rag" / "rag_chain.py")
    module = __import__(entry.__module__)
    module.LLM_PREDICT_URL = fake_phi3  # the placeholder, pointed at this test's fake Phi-3

    class FakeVectorStore:
        async def run_remote(self, query: str) -> list[str]:
            return [module.DOCUMENTS[1], module.DOCUMENTS[3]]

    with chains.run_local():
        rag = entry(vector_store=FakeVectorStore())
        assert asyncio.run(rag.run_remote("Sam moved to Manhattan.")) == (
            "Ravi and David would like to meet Sam."
        )


def test_mistral_example_imports_with_its_chainlets() -> None:
    graph = _graph(EXAMPLES / "mistral" / "mistral_chainlet.py")
    assert graph.entrypoint.name == "PoemGenerator"
    assert _shape(graph) == {"MistralLLM": [], "PoemGenerator": ["MistralLLM"]}
    mistral = graph.by_name("MistralLLM").remote_config
    assert mistral.compute.gpu == "A10G"
    assert mistral.assets.secret_keys == ["hf_access_token"]
    assert [r.repo_id for r in mistral.assets.cached] == ["mistralai/Mistral-7B-Instruct-v0.2"]


def test_mistral_example_runs_locally_with_its_fake_llm() -> None:
    # The example's own __main__ block.
    entry = load_entrypoint(EXAMPLES / "mistral" / "mistral_chainlet.py")

    class FakeMistralLLM:
        async def run_remote(self, data: str) -> str:
            return data.upper()

    with chains.run_local():
        poem_generator = entry(mistral_llm=FakeMistralLLM())
        results = asyncio.run(poem_generator.run_remote(words=["apple", "banana"]))
    assert results == {
        "apple": "WRITE A REALLY SHORT POEM ABOUT: APPLE",
        "banana": "WRITE A REALLY SHORT POEM ABOUT: BANANA",
    }


def test_audio_transcription_example_imports_with_its_chainlets() -> None:
    graph = _graph(EXAMPLES / "audio-transcription" / "transcribe.py")
    assert graph.entrypoint.name == "Transcribe"
    assert _shape(graph) == {"MacroChunkWorker": [], "Transcribe": ["MacroChunkWorker"]}
    assert graph.entrypoint.dependencies[0].options.retries == 3
    assert graph.entrypoint.remote_config.compute.predict_concurrency == 128
    whisper = _graph(EXAMPLES / "audio-transcription" / "whisper_chainlet.py")
    assert _shape(whisper) == {"WhisperModel": []}
    (weights,) = whisper.entrypoint.remote_config.assets.external_data
    assert str(weights.local_data_path) == "weights/large-v3.pt"


# -- tests/ -----------------------------------------------------------------------------------
def test_custom_health_checks() -> None:
    entry = load_entrypoint(TESTS / "custom_health_checks" / "custom_health_checks.py",
                            "CustomHealthChecks")
    assert definition_of(entry).has_health_check
    with chains.run_local():
        chainlet = entry()
        assert asyncio.run(chainlet.run_remote(fail=True)) == "health checks will fail"
        assert chainlet.is_healthy() is False
        assert asyncio.run(chainlet.run_remote(fail=False)) == "health checks will succeed"
        assert chainlet.is_healthy() is True


def test_http_errors() -> None:
    fastapi = pytest.importorskip("fastapi", reason="the ported file imports fastapi, not installed here")
    graph = _graph(TESTS / "http_errors" / "http_errors.py")
    assert _shape(graph) == {"FailingHelper": [], "RaisingEntrypoint": ["FailingHelper"]}
    with chains.run_local(), pytest.raises(fastapi.HTTPException):
        graph.entrypoint.cls().run_remote(max_value=3)


def test_import_model_without_inheritance() -> None:
    with pytest.raises(chains.ChainsUsageError, match=(
        r"no chainlet and no model.*`ClassWithoutModelInheritance` has a `predict` method but "
        r"does not inherit from chains.ModelBase"
    )):
        load_entrypoint(TESTS / "import" / "model_without_inheritance.py")


def test_import_standalone_with_multiple_entrypoints() -> None:
    entry = load_entrypoint(TESTS / "import" / "standalone_with_multiple_entrypoints.py")
    with pytest.raises(chains.ChainsUsageError, match=r"\(SecondModel\) \[entrypoint-twice\].*`FirstModel`"):
        definition_of(entry)


ITEST_CHAINLETS = {
    "GENERATE_DATA": [],
    "TextReplicator": [],
    "SideEffectOnlySubclass": [],
    "TextToNum": ["SideEffectOnlySubclass", "TextReplicator"],
    "SplitTextFailOnce": [],
    "ItestChain": ["GENERATE_DATA", "SplitTextFailOnce", "TextToNum"],
}


def test_itest_chain_imports_with_its_chainlets() -> None:
    graph = _graph(TESTS / "itest_chain" / "itest_chain.py")
    assert graph.entrypoint.name == "ItestChain"
    assert _shape(graph) == ITEST_CHAINLETS
    splitter = next(d for d in graph.entrypoint.dependencies if d.arg_name == "splitter")
    assert splitter.options.retries == 2


def test_itest_chain_runs_locally() -> None:
    # truss-chains' tests/test_e2e.py::test_chain_local.
    entry = load_entrypoint(TESTS / "itest_chain" / "itest_chain.py", "ItestChain")
    with chains.run_local():
        with pytest.raises(ValueError, match="Haha this is a fake error"):
            # The first call of SplitTextFailOnce fails; run_local has no retries.
            asyncio.run(entry().run_remote(length=20, num_partitions=5))
        result = asyncio.run(entry().run_remote(length=20, num_partitions=5))
    assert (*result[:3], result[3].model_dump(), result[4]) == (
        4198, "erodfderodfderodfder", 123, {"parts": [], "part_lens": [10]}, ["a", "b"],
    )
    with pytest.raises(chains.ChainsRuntimeError):
        entry()


NUMPY_HOSTS = ["HostJSON", "HostBinary"]


@pytest.mark.parametrize("host", NUMPY_HOSTS)
def test_numpy_and_binary_imports_with_its_chainlets(host: str) -> None:
    graph = _graph(TESTS / "numpy_and_binary" / "chain.py", host)
    assert _shape(graph) == {
        "SyncChainlet": [], "AsyncChainlet": [], "AsyncChainletNoOutput": [],
        "AsyncChainletNoInput": [],
        host: ["AsyncChainlet", "AsyncChainletNoInput", "AsyncChainletNoOutput", "SyncChainlet"],
    }
    assert {d.options.use_binary for d in graph.entrypoint.dependencies} == {host == "HostBinary"}


def _expected_numpy_results(module: Any) -> tuple[Any, ...]:
    return (
        module.DataModel(msg="From sync", np_array=np.ones((3, 2, 1))),
        module.DataModel(msg="From async", np_array=np.ones((3, 2, 1))),
        module.DataModel(msg="From async no input", np_array=np.full((2, 2), 3)),
    )


@pytest.mark.parametrize("host", NUMPY_HOSTS)
def test_numpy_and_binary_runs_locally(host: str) -> None:
    entry = load_entrypoint(TESTS / "numpy_and_binary" / "chain.py", host)
    with chains.run_local():
        result = asyncio.run(entry().run_remote())
    assert result == _expected_numpy_results(__import__(entry.__module__))


def test_throttling_chain_imports_with_its_chainlets() -> None:
    # Its __init__ sets `dep._async_semaphore_wrapper._log_interval_sec`, a private attribute of
    # truss-chains' stubs, so it runs neither in truss-chains' run_local nor here.
    graph = _graph(TESTS / "throttling_chain" / "throttling_chain.py")
    assert _shape(graph) == {"Dependency": [], "ThrottlingChain": ["Dependency"]}
    assert graph.entrypoint.dependencies[0].options.concurrency_limit == 4
    assert graph.by_name("Dependency").remote_config.compute.predict_concurrency == 100


def test_timeout_chain_imports_and_runs_locally() -> None:
    graph = _graph(TESTS / "timeout" / "timeout_chain.py")
    assert _shape(graph) == {"Dependency": [], "DependencySync": [],
                             "TimeoutChain": ["Dependency", "DependencySync"]}
    assert {d.options.timeout_sec for d in graph.entrypoint.dependencies} == {0.5}
    with chains.run_local():  # local calls have no timeout, in truss-chains too
        assert asyncio.run(graph.entrypoint.cls().run_remote(use_sync=False)) is None
        # The sync dependency, called without `await` from the async entrypoint.
        assert asyncio.run(graph.entrypoint.cls().run_remote(use_sync=True)) is None


def test_traditional_truss_model() -> None:
    # truss-chains' tests/test_e2e.py::test_traditional_truss, without Docker.
    entry = load_entrypoint(TESTS / "traditional_truss" / "truss_model.py")
    definition = definition_of(entry)
    assert definition.name == "OverridePassthroughModelName"
    assert definition.remote_config.compute.cpu_count == 4
    with chains.run_local():
        assert asyncio.run(entry().predict(call_count_increment=5)) == 5


def test_websocket_chain() -> None:
    pytest.importorskip("fastapi", reason="the ported file imports fastapi, not installed here")
    graph = _graph(TESTS / "websocket_chain" / "websocket_chain.py")
    assert _shape(graph) == {"Dependency": [], "Head": ["Dependency"]}
    assert graph.entrypoint.endpoint.is_websocket


# -- deployed on the local target ---------------------------------------------------------
@pytest.fixture
def target(tmp_path: pathlib.Path) -> Iterator[LocalTarget]:
    local = LocalTarget(root=tmp_path / "state")
    yield local
    for chain in local.chains():
        local.down(chain)


@pytest.mark.servers
def test_reference_chainlet_on_the_local_target(target: LocalTarget) -> None:
    entry = load_entrypoint(CHAINS / "reference_code" / "reference_chainlet.py")
    service = deploy.push(entry, "reference", remote=target)
    assert service is not None
    assert sorted((c.name, c.is_entrypoint) for c in service.get_info()) == [
        ("HelloWorld", True), ("RandInt", False),
    ]
    assert re.fullmatch(r"(Hello World! ){1,5}", service.run_remote({"max_value": 5}))


@pytest.mark.servers
def test_timeout_chain_on_the_local_target(target: LocalTarget) -> None:
    # truss-chains' tests/test_e2e.py::test_timeout: the async dependency, then the sync one (a
    # blocking stub, called without `await` from the async entrypoint).
    entry = load_entrypoint(TESTS / "timeout" / "timeout_chain.py")
    service = deploy.push(entry, "timeout", remote=target)
    assert service is not None
    with pytest.raises(chains.RemoteError, match=r"(?s)`Dependency`.*0\.5"):
        service.run_remote({"use_sync": False})
    with pytest.raises(chains.RemoteError, match=r"(?s)`DependencySync`.*0\.5"):
        service.run_remote({"use_sync": True})


@pytest.mark.servers
@pytest.mark.parametrize("host", NUMPY_HOSTS)
def test_numpy_and_binary_on_the_local_target(target: LocalTarget, host: str) -> None:
    entry = load_entrypoint(TESTS / "numpy_and_binary" / "chain.py", host)
    service = deploy.push(entry, f"numpy-{host.lower()}", remote=target)
    assert service is not None
    sync, asynchronous, no_input = service.run_remote({})
    assert (sync["msg"], asynchronous["msg"], no_input["msg"]) == (
        "From sync", "From async", "From async no input",
    )


@pytest.mark.servers
def test_http_errors_keep_their_status_on_the_local_target(target: LocalTarget) -> None:
    # truss-chains' tests/test_e2e.py::test_http_status_propagation.
    pytest.importorskip("fastapi", reason="the ported file imports fastapi, not installed here")
    entry = load_entrypoint(TESTS / "http_errors" / "http_errors.py")
    service = deploy.push(entry, "http-errors", remote=target)
    assert service is not None
    response = httpx.post(service.run_remote_url, json={"max_value": 12}, timeout=30)
    assert response.status_code == 422, response.text
    detail = chains.RemoteErrorDetail.model_validate(response.json()["error"]).format()
    assert "This is a test error." in detail
    assert "FailingHelper" in detail


@pytest.mark.servers
def test_custom_health_checks_on_the_local_target(target: LocalTarget) -> None:
    # truss-chains' tests/test_e2e.py::test_custom_health_checks_chain: readiness follows
    # is_healthy() (the process keeps serving; only readiness drops).
    entry = load_entrypoint(TESTS / "custom_health_checks" / "custom_health_checks.py")
    service = deploy.push(entry, "health", remote=target)
    assert service is not None
    readyz = service.run_remote_url.rsplit("/", 1)[0] + "/readyz"
    assert service.run_remote({"fail": False}) == "health checks will succeed"
    assert httpx.get(readyz, timeout=10).status_code == 200
    assert service.run_remote({"fail": True}) == "health checks will fail"
    assert httpx.get(readyz, timeout=10).status_code == 503
    assert service.run_remote({"fail": False}) == "health checks will succeed"
    assert httpx.get(readyz, timeout=10).status_code == 200


@pytest.mark.servers
def test_websocket_chain_on_the_local_target(target: LocalTarget) -> None:
    # truss-chains' tests/test_e2e.py::test_websocket_chain.
    pytest.importorskip("fastapi", reason="the ported file imports fastapi, not installed here")
    from websockets.sync.client import connect

    entry = load_entrypoint(TESTS / "websocket_chain" / "websocket_chain.py")
    service = deploy.push(entry, "websocket", remote=target)
    assert service is not None
    # As truss-chains' test does, the websocket address from the service's URL.
    url = service.run_remote_url.replace("http://", "ws://", 1).replace("/run_remote", "/websocket")
    with connect(url, open_timeout=10) as ws:
        ws.send("Test")
        assert ws.recv(timeout=10) == "You said: Test."
        ws.send("dep")
        assert ws.recv(timeout=10) == "Hello from dependency, Head."
