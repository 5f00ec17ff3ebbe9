"""`infra-chains init`: the chain it writes plans, runs locally and deploys; it never overwrites."""

from __future__ import annotations

import json
import pathlib

import pytest

import infra_chains as chains
from infra_chains.cli.app import main
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan import make_plan


def test_init_writes_a_chain_that_plans_and_runs_locally(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "greetings"
    assert main(["init", str(directory)]) == 0
    assert sorted(p.name for p in directory.iterdir()) == [".gitignore", "README.md", "greetings.py"]
    out = capsys.readouterr().out
    assert "infra-chains push greetings.py\n" in out
    assert "infra-chains run greetings --data '{\"name\": \"Ada\"}'" in out
    assert "infra-chains watch greetings.py\n" in out

    entry = load_entrypoint(directory / "greetings.py")
    plan = make_plan(build_graph(entry), "greetings")
    assert plan.entrypoint == "Greetings"
    assert sorted(c.name for c in plan.chainlets) == ["Greeter", "Greetings", "WordCounter"]
    with chains.run_local():
        answer = entry().run_remote(name="Ada")  # type: ignore[attr-defined]
    assert answer.model_dump() == {"text": "Hello, Ada!", "words": 2}


def test_init_never_overwrites_the_chain_file(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain_file = tmp_path / "mine" / "mine.py"
    chain_file.parent.mkdir()
    chain_file.write_text("# my own work\n")
    assert main(["init", str(chain_file.parent)]) == 2
    err = capsys.readouterr().err
    assert f"{chain_file} already exists" in " ".join(err.split())
    assert "--name" in err
    assert chain_file.read_text() == "# my own work\n"
    assert sorted(p.name for p in chain_file.parent.iterdir()) == ["mine.py"]  # nothing written


def test_init_keeps_a_readme_and_gitignore_that_exist(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "README.md").write_text("# project\n")
    (tmp_path / ".gitignore").write_text("*.log\n")
    assert main(["init", str(tmp_path), "--name", "hello-world"]) == 0
    err = capsys.readouterr().err
    assert "kept the existing README.md" in err and "kept the existing .gitignore" in err
    assert (tmp_path / "README.md").read_text() == "# project\n"
    assert (tmp_path / ".gitignore").read_text() == "*.log\n"
    assert "class HelloWorld(chains.ChainletBase)" in (tmp_path / "hello_world.py").read_text()


def test_a_name_its_entrypoint_cannot_spell_is_passed_to_push(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path), "--name", "a-b"]) == 0  # class AB: default name "ab"
    assert "infra-chains push a_b.py --name a-b\n" in capsys.readouterr().out
    assert load_entrypoint(tmp_path / "a_b.py").__name__ == "AB"


@pytest.mark.parametrize("name", ["Bad Name", "9lives", "-x"])
def test_an_invalid_name_is_a_usage_error(tmp_path: pathlib.Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path), f"--name={name}"]) == 2
    assert repr(name) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_file_as_directory_is_a_usage_error(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken").write_text("")
    assert main(["init", str(tmp_path / "taken")]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.servers
def test_the_new_chain_deploys_and_answers(
    tmp_path: pathlib.Path, state_root: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "fresh-start"
    assert main(["init", str(directory)]) == 0
    assert main(["push", str(directory / "fresh_start.py"), "--timeout", "30"]) == 0
    capsys.readouterr()
    assert main(["run", "fresh-start", "--data", '{"name": "Ada"}']) == 0
    assert json.loads(capsys.readouterr().out) == {"text": "Hello, Ada!", "words": 2}
    assert main(["down", "fresh-start"]) == 0
