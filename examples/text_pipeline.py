"""A fan-out/fan-in chain: split a text, summarise the chunks concurrently, merge the results.

Shows pydantic I/O, a sync and an async dependency called from an async chainlet, `user_env`
and a secret read from the context.

    read -rs PIPELINE_TOKEN && export PIPELINE_TOKEN   # the secret, kept off command lines (ps)
    python examples/text_pipeline.py                    # runs in this process (run_local)
    infra-chains push examples/text_pipeline.py --name text-pipeline --user-env mode=prod
    infra-chains run text-pipeline --data '{"document": {"text": "One. Two. Three."}}'
"""

import asyncio
import hashlib
import os

import pydantic

import infra_chains as chains


class Document(pydantic.BaseModel):
    text: str
    max_chunk_chars: int = 80


class Summary(pydantic.BaseModel):
    index: int
    words: int
    first_words: str
    tag: str


class PipelineResult(pydantic.BaseModel):
    mode: str
    chunks: int
    total_words: int
    summaries: list[Summary]


class Chunker(chains.ChainletBase):
    """Splits text into chunks of whole sentences (sync)."""

    def run_remote(self, text: str, max_chars: int) -> list[str]:
        chunks: list[str] = []
        for sentence in filter(None, (s.strip() for s in text.replace("\n", " ").split("."))):
            if chunks and len(chunks[-1]) + len(sentence) + 2 <= max_chars:
                chunks[-1] += f" {sentence}."
            else:
                chunks.append(f"{sentence}.")
        return chunks


class Summarizer(chains.ChainletBase):
    """Summarises one chunk (async); tags it with a hash of the secret, never the secret itself."""

    remote_config = chains.RemoteConfig(
        assets=chains.Assets(secret_keys=["pipeline_token"]),
        compute=chains.Compute(predict_concurrency=16),  # serves the whole fan-out at once
    )

    def __init__(self, context: chains.DeploymentContext = chains.depends_context()) -> None:
        token = context.secrets["pipeline_token"]
        self._tag = hashlib.sha256(token.encode()).hexdigest()[:8]

    async def run_remote(self, index: int, chunk: str) -> Summary:
        words = chunk.split()
        return Summary(index=index, words=len(words), first_words=" ".join(words[:3]), tag=self._tag)


@chains.mark_entrypoint
class TextPipeline(chains.ChainletBase):
    """Fans out over the chunks with `asyncio.gather`, fans in into one `PipelineResult`."""

    def __init__(
        self,
        chunker: Chunker = chains.depends(Chunker),
        summarizer: Summarizer = chains.depends(Summarizer, concurrency_limit=16),
        context: chains.DeploymentContext = chains.depends_context(),
    ) -> None:
        self._chunker, self._summarizer = chunker, summarizer
        self._mode = context.user_env.get("mode", "dev")

    async def run_remote(self, document: Document) -> PipelineResult:
        # Chunker's run_remote is `def`, so is its stub's: a plain blocking call (no `await`),
        # which holds this event loop for its (short) duration, as in truss-chains. A dependency
        # with `async def run_remote`, like Summarizer, is awaited and does not block.
        chunks = self._chunker.run_remote(document.text, document.max_chunk_chars)
        summaries = await asyncio.gather(
            *(self._summarizer.run_remote(i, chunk) for i, chunk in enumerate(chunks))
        )
        return PipelineResult(
            mode=self._mode, chunks=len(chunks), total_words=sum(s.words for s in summaries),
            summaries=summaries,
        )


if __name__ == "__main__":
    token = os.environ.get("PIPELINE_TOKEN")
    if token is None:
        print("PIPELINE_TOKEN is not set; using a demo token.")
        token = "demo-token"
    text = "Chains split work into chainlets. Each one scales alone. " * 3
    with chains.run_local(secrets={"pipeline_token": token}, user_env={"mode": "local"}):
        result = asyncio.run(TextPipeline().run_remote(Document(text=text, max_chunk_chars=70)))
    print(result.model_dump_json(indent=2))
