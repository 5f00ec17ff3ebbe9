"""Chain files load under the module name every runtime will import them by."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.framework.loading import (
    NoEntrypointError,
    load_entrypoint,
    module_name,
    workspace_of,
)
from infra_chains.serving.contract import RuntimeContract
from infra_chains.serving.runtime import load_chainlet_class

CHAIN = '''
import infra_chains as chains


@chains.mark_entrypoint
class Hello(chains.ChainletBase):
    def run_remote(self, name: str) -> str:
        return f"hello {name}"
'''


def test_a_file_name_with_a_hyphen_loads_and_round_trips_through_the_contract(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "my-chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    cls = load_entrypoint(path)
    assert cls.__module__ == "my-chain"
    contract = RuntimeContract(
        chain_name="c", chainlet_name="Hello", import_path=f"{cls.__module__}:{cls.__qualname__}",
        workspace_dir=tmp_path, port=0,
    )
    assert load_chainlet_class(contract) is cls  # the runtime finds the same file by name


def test_a_hyphenated_package_directory_is_a_module_path(tmp_path: pathlib.Path) -> None:
    package = tmp_path / "my-pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    path = package / "the-chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    assert module_name(path, workspace_of(path)) == "my-pkg.the-chain"


def test_a_files_only_chainlet_is_its_entrypoint_unmarked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "single.py"
    path.write_text(textwrap.dedent(CHAIN).replace("@chains.mark_entrypoint\n", ""))
    assert "mark_entrypoint" not in path.read_text()
    assert load_entrypoint(path).__name__ == "Hello"


@pytest.mark.parametrize("name", ["chain.v2.py", "my chain.py"])
def test_a_name_that_cannot_be_a_module_part_is_refused_with_the_fix(tmp_path: pathlib.Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(textwrap.dedent(CHAIN))
    with pytest.raises(ChainsUsageError) as info:
        load_entrypoint(path)
    message = str(info.value)
    assert repr(name[:-3]) in message and "rename it to" in message


def test_two_files_of_one_module_name_load_as_themselves(tmp_path: pathlib.Path) -> None:
    for directory, cls in (("one", "First"), ("two", "Second")):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "same-name.py").write_text(textwrap.dedent(CHAIN).replace("Hello", cls))
    assert load_entrypoint(tmp_path / "one" / "same-name.py").__name__ == "First"
    assert load_entrypoint(tmp_path / "two" / "same-name.py").__name__ == "Second"


def test_loading_again_after_an_edit_sees_the_edit_in_every_workspace_module(tmp_path: pathlib.Path) -> None:
    """An in-process re-push plans what is on disk (a stale signature would keep old stubs)."""
    from infra_chains.framework.chainlet import definition_of

    (tmp_path / "reload_dep.py").write_text(textwrap.dedent(CHAIN).replace("@chains.mark_entrypoint", ""))
    path = tmp_path / "reload_chain.py"
    path.write_text(textwrap.dedent('''
        import infra_chains as chains
        from reload_dep import Hello


        @chains.mark_entrypoint
        class Entry(chains.ChainletBase):
            def __init__(self, hello: Hello = chains.depends(Hello)) -> None:
                self._hello = hello

            def run_remote(self, name: str) -> str:
                return self._hello.run_remote(name=name) + " v1"
    '''))
    first = load_entrypoint(path)
    assert load_entrypoint(path) is first  # unchanged files are not imported again
    path.write_text(path.read_text().replace("name: str", "who: str").replace("name=name", "name=who"))
    dep = tmp_path / "reload_dep.py"
    dep.write_text(dep.read_text().replace("name: str", "nick: str").replace("{name}", "{nick}"))
    second = load_entrypoint(path)
    assert [p.name for p in definition_of(second).endpoint.params] == ["who"]
    hello = definition_of(second).dependencies[0].chainlet_cls
    assert [p.name for p in definition_of(hello).endpoint.params] == ["nick"]


def test_a_file_marking_no_entrypoint_says_how_in_the_librarys_words(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "two_unmarked.py"
    second = "\n\nclass Other(chains.ChainletBase):\n    def run_remote(self) -> str:\n        return ''\n"
    path.write_text(textwrap.dedent(CHAIN).replace("@chains.mark_entrypoint\n", "") + second)
    with pytest.raises(NoEntrypointError) as info:
        load_entrypoint(path)
    message = str(info.value)
    assert "pass its class name as `entrypoint`" in message
    assert "chainlets there: Hello, Other" in message
    assert "--" not in message  # a library error never names a CLI option
    assert load_entrypoint(path, "Other").__name__ == "Other"
