"""The chains in `examples/` run through `run_local`, as their `__main__` blocks do."""

import asyncio
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import types
from collections.abc import Callable

import pytest

import infra_chains as chains
from infra_chains.framework.chainlet import is_entrypoint
from infra_chains.framework.graph import build_graph

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
ImportFile = Callable[[pathlib.Path, str], types.ModuleType]

TEXT = "Chains split work into chainlets. Each one scales alone. Small ones are cheap. " * 2


def test_hello(import_file: ImportFile) -> None:
    hello = import_file(EXAMPLES / "hello.py", "example_hello")
    assert is_entrypoint(hello.HelloWorld)
    with chains.run_local():
        assert hello.HelloWorld().run_remote(names=["Ada", "Grace"]) == ["Hello, Ada!", "Hello, Grace!"]


def test_text_pipeline_graph(import_file: ImportFile) -> None:
    pipeline = import_file(EXAMPLES / "text_pipeline.py", "example_text_pipeline")
    assert is_entrypoint(pipeline.TextPipeline)
    graph = build_graph(pipeline.TextPipeline)
    assert sorted(c.name for c in graph.chainlets) == ["Chunker", "Summarizer", "TextPipeline"]
    assert graph.chainlets[-1].name == "TextPipeline"
    assert graph.entrypoint.endpoint.is_async
    assert graph.by_name("Summarizer").endpoint.is_async
    assert not graph.by_name("Chunker").endpoint.is_async


def test_text_pipeline_fans_out_and_in(import_file: ImportFile) -> None:
    pipeline = import_file(EXAMPLES / "text_pipeline.py", "example_text_pipeline")
    document = pipeline.Document(text=TEXT, max_chunk_chars=60)
    with chains.run_local(secrets={"pipeline_token": "t0k3n"}, user_env={"mode": "test"}):
        result = asyncio.run(pipeline.TextPipeline().run_remote(document))

    assert isinstance(result, pipeline.PipelineResult)
    assert result.mode == "test"
    assert result.chunks == len(result.summaries) > 1
    assert [s.index for s in result.summaries] == list(range(result.chunks))
    assert result.total_words == len(TEXT.split())
    assert result.summaries[0].first_words == "Chains split work"
    assert {s.tag for s in result.summaries} == {hashlib.sha256(b"t0k3n").hexdigest()[:8]}


def test_text_pipeline_mode_defaults_to_dev(import_file: ImportFile) -> None:
    pipeline = import_file(EXAMPLES / "text_pipeline.py", "example_text_pipeline")
    with chains.run_local(secrets={"pipeline_token": "x"}):
        result = asyncio.run(pipeline.TextPipeline().run_remote(pipeline.Document(text="One. Two.")))
    assert (result.mode, result.chunks, result.total_words) == ("dev", 1, 2)


def test_text_pipeline_needs_its_secret(import_file: ImportFile) -> None:
    pipeline = import_file(EXAMPLES / "text_pipeline.py", "example_text_pipeline")
    with chains.run_local(secrets={"other": "x"}), pytest.raises(KeyError, match="pipeline_token"):
        pipeline.TextPipeline()


@pytest.mark.parametrize("example", ["hello.py", "text_pipeline.py"])
def test_examples_run_as_scripts(example: str) -> None:
    env = {**os.environ, "PIPELINE_TOKEN": "script-secret"}
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / example)], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "script-secret" not in completed.stdout + completed.stderr
    if example == "text_pipeline.py":
        result = json.loads(completed.stdout)
        assert result["mode"] == "local" and result["chunks"] >= 1
        assert result["summaries"][0]["tag"] == hashlib.sha256(b"script-secret").hexdigest()[:8]


def test_array_stats_normalizes_through_the_chain(import_file: ImportFile) -> None:
    np = pytest.importorskip("numpy")
    example = import_file(EXAMPLES / "array_stats.py", "example_array_stats")
    data = np.random.default_rng(1).normal(3.0, 4.0, size=(256, 8))
    with chains.run_local():
        stats = asyncio.run(example.BatchStats().run_remote(batch=data))
    assert stats.shape == [256, 8]
    assert abs(stats.mean) < 1e-5 and abs(stats.std - 1.0) < 1e-4
