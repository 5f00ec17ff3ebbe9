"""A small working chain to start from: the files `infra-chains init` writes.

The chain is data (`Scaffold`, its files' text), written only where nothing exists: the chain
file is never overwritten, and a ``README.md`` or ``.gitignore`` the directory already has is kept
as it is (a project's own files are not ours to replace).
"""

from __future__ import annotations

import pathlib
import re
import pydantic

from infra_chains.errors import ChainsUsageError
from infra_chains.plan import default_chain_name, validate_chain_name

__all__ = [
    "Scaffold", "ScaffoldExistsError", "ScaffoldFile", "ScaffoldResult", "name_for", "scaffold",
    "write_scaffold",
]

#: The chain name when the directory's own name is not one.
DEFAULT_NAME = "my-chain"

_CHAIN = '''\
"""{title}: a chain of three chainlets to start from.

    python {file}  # run it in this process (run_local)
    infra-chains push {file}{name_option}  # deploy: one local HTTP service per chainlet
    infra-chains run {name} --data '{{"name": "Ada"}}'  # call the entrypoint
    infra-chains watch {file}{name_option}  # re-push on every save; only edited chainlets restart
    infra-chains down {name}  # stop every process

Each chainlet is a class with a typed `run_remote`; `chains.depends` wires one to another, and a
deployed chainlet calls its dependencies over HTTP with the same code.
"""

import pydantic

import infra_chains as chains


class Greeting(pydantic.BaseModel):
    text: str
    words: int


class Greeter(chains.ChainletBase):
    """Builds the greeting."""

    def run_remote(self, name: str) -> str:
        return f"Hello, {{name}}!"


class WordCounter(chains.ChainletBase):
    """Counts the words of a text."""

    def run_remote(self, text: str) -> int:
        return len(text.split())


@chains.mark_entrypoint
class {entrypoint}(chains.ChainletBase):
    """The chain's entrypoint: greets, then counts the greeting's words."""

    def __init__(
        self,
        greeter: Greeter = chains.depends(Greeter),
        counter: WordCounter = chains.depends(WordCounter),
    ) -> None:
        self._greeter = greeter
        self._counter = counter

    def run_remote(self, name: str = "world") -> Greeting:
        text = self._greeter.run_remote(name=name)
        return Greeting(text=text, words=self._counter.run_remote(text=text))


if __name__ == "__main__":
    with chains.run_local():
        print({entrypoint}().run_remote(name="Ada"))
'''

_README = """\
# {name}

A chain made with `infra-chains init`: `{file}` holds three chainlets ({entrypoint}, the
entrypoint, calls Greeter and WordCounter).

```bash
python {file}  # run it in this process
infra-chains push {file}{name_option}  # deploy it on this machine
infra-chains run {name} --data '{{"name": "Ada"}}'  # call it: {{"text": "Hello, Ada!", "words": 2}}
infra-chains watch {file}{name_option}  # re-push on every save
infra-chains down {name}  # stop it
```
"""

_GITIGNORE = """\
__pycache__/
*.py[cod]
.venv/
.env
.chains_generated/
"""


class ScaffoldFile(pydantic.BaseModel):
    """One file of a scaffold; ``required`` files are never overwritten, the others kept if
    they exist."""

    model_config = pydantic.ConfigDict(frozen=True)

    path: str = pydantic.Field(description="Relative to the scaffold's directory.")
    text: str
    required: bool = True


class Scaffold(pydantic.BaseModel):
    """The chain `write_scaffold` writes: its name, chain file, entrypoint class and files."""

    model_config = pydantic.ConfigDict(frozen=True)

    chain_name: str
    chain_file: str
    entrypoint: str
    files: list[ScaffoldFile]
    name_option: bool = pydantic.Field(
        description="Whether push must be given the chain name (the entrypoint's default differs)."
    )


class ScaffoldResult(pydantic.BaseModel):
    """What `write_scaffold` did."""

    scaffold: Scaffold
    directory: str
    written: list[str]
    kept: list[str] = pydantic.Field(description="Optional files that existed and were kept.")


class ScaffoldExistsError(ChainsUsageError):
    """A file the scaffold needs exists already; nothing was written."""

    def __init__(self, path: pathlib.Path, fix: str = "Choose an empty directory or another chain name.") -> None:
        self.path = path
        super().__init__(f"{path} already exists; a new chain never overwrites a file. {fix}")


def scaffold(name: str) -> Scaffold:
    """The files of a new chain called ``name`` (a valid chain name, e.g. ``my-chain``)."""
    validate_chain_name(name)
    if not name[0].isalpha():
        raise ChainsUsageError(
            f"Chain name {name!r} must start with a letter: its chain file and entrypoint class "
            f"are named after it (e.g. {('chain-' + name)!r})."
        )
    entrypoint = "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_]", name) if part)
    chain_file = name.replace("-", "_") + ".py"
    name_option = default_chain_name(entrypoint) != name
    values = {
        "name": name, "file": chain_file, "entrypoint": entrypoint,
        "title": entrypoint, "name_option": f" --name {name}" if name_option else "",
    }
    return Scaffold(
        chain_name=name,
        chain_file=chain_file,
        entrypoint=entrypoint,
        name_option=name_option,
        files=[
            ScaffoldFile(path=chain_file, text=_CHAIN.format(**values)),
            ScaffoldFile(path="README.md", text=_README.format(**values), required=False),
            ScaffoldFile(path=".gitignore", text=_GITIGNORE, required=False),
        ],
    )


def name_for(directory: pathlib.Path) -> str:
    """A chain name from ``directory``'s name (``My Project`` -> ``my-project``), or the default."""
    candidate = re.sub(r"[^a-z0-9]+", "-", directory.resolve().name.lower()).strip("-")[:48].strip("-")
    try:
        if candidate and candidate[0].isalpha():
            return validate_chain_name(candidate)
    except ChainsUsageError:
        pass
    return DEFAULT_NAME


def write_scaffold(directory: pathlib.Path, name: str | None = None) -> ScaffoldResult:
    """Write a new chain into ``directory`` (created if missing).

    Every required file is checked before anything is written, so a refusal leaves the directory
    as it was.
    """
    if directory.exists() and not directory.is_dir():
        raise ChainsUsageError(f"{directory} exists and is not a directory; choose a directory.")
    plan = scaffold(name or name_for(directory))
    for file in plan.files:
        if file.required and (directory / file.path).exists():
            raise ScaffoldExistsError(directory / file.path)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    kept: list[str] = []
    for file in plan.files:
        path = directory / file.path
        try:
            with path.open("x", encoding="utf-8") as handle:  # "x": never replace a file
                handle.write(file.text)
        except FileExistsError:
            if file.required:  # created since the check above
                raise ScaffoldExistsError(path) from None
            kept.append(file.path)
            continue
        written.append(file.path)
    return ScaffoldResult(scaffold=plan, directory=str(directory), written=written, kept=kept)

