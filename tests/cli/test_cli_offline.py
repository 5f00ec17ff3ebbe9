"""CLI behaviour that needs no running chain: help, dry runs and bad input."""

from __future__ import annotations

import json
import pathlib

import pytest

from infra_chains.cli.app import main

CHAIN = '''
import infra_chains as chains


class Greeter(chains.ChainletBase):
    remote_config = chains.RemoteConfig(assets=chains.Assets(secret_keys=["greeting_token"]))

    def run_remote(self, name: str) -> str:
        return f"hi {name}"


@chains.mark_entrypoint
class Hello(chains.ChainletBase):
    def __init__(self, greeter: Greeter = chains.depends(Greeter)) -> None:
        self._greeter = greeter

    def run_remote(self, name: str) -> str:
        return self._greeter.run_remote(name=name)
'''


@pytest.fixture
def chain_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    monkeypatch.setenv("INFRA_CHAINS_HOME", str(tmp_path / "state"))
    path = tmp_path / "src" / "cli_offline_chain.py"
    path.parent.mkdir()
    path.write_text(CHAIN)
    return path


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("push", "run", "status", "logs", "down"):
        assert command in out


def test_dry_run_writes_plan_and_build_contexts(chain_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "generated"
    assert main(["push", str(chain_file), "--dry-run", "--out", str(out), "--name", "hello"]) == 0
    plan = json.loads((out / "hello" / "plan.json").read_text())
    assert [c["name"] for c in plan["chainlets"]] == ["Greeter", "Hello"]
    for chainlet in ("Greeter", "Hello"):
        context = out / "hello" / chainlet
        assert (context / "workspace" / "cli_offline_chain.py").is_file()
        assert (context / "runtime" / "infra_chains" / "serve.py").exists() or (
            context / "runtime" / "infra_chains" / "__init__.py"
        ).is_file()
        dockerfile = (context / "Dockerfile").read_text()
        assert dockerfile.startswith("FROM python:3.11-slim")
        assert 'CMD ["/opt/venv/bin/python", "-m", "infra_chains.serve"]' in dockerfile
    assert not (tmp_path / "state" / "chains").exists()  # nothing deployed


def test_missing_file_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", "does/not/exist.py"]) == 2
    assert "does/not/exist.py does not exist" in capsys.readouterr().err


def test_missing_secret_fails_before_anything_starts(
    chain_file: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("greeting_token", raising=False)
    monkeypatch.delenv("GREETING_TOKEN", raising=False)
    assert main(["push", str(chain_file), "--name", "hello"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "'greeting_token' (used by Greeter)" in err
    assert "--secret KEY=VALUE" in err and "--secrets-file" in err  # the CLI's words
    assert "secrets=" not in err  # not the library's
    assert not (tmp_path / "state" / "chains" / "hello").exists()


def test_unknown_entrypoint_lists_the_chainlets(chain_file: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["push", str(chain_file), "--entrypoint", "Nope", "--dry-run"]) == 2
    assert "chainlets there: Greeter, Hello" in capsys.readouterr().err


def test_a_file_marking_no_entrypoint_names_the_option(
    chain_file: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain_file.write_text(CHAIN.replace("@chains.mark_entrypoint\n", ""))
    assert main(["push", str(chain_file), "--dry-run"]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "marks no entrypoint" in err and "name it with --entrypoint" in err
    assert "`entrypoint`" not in err  # the library's words, replaced by the option's


def test_kubernetes_without_pulumi_explains_what_to_do(
        chain_file: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("INFRA_CHAINS_PULUMI", raising=False)
    assert main(["push", str(chain_file), "--target", "kubernetes", "--secret", "greeting_token=x"]) == 2
    assert "INFRA_CHAINS_PULUMI" in capsys.readouterr().err


def test_run_rejects_non_object_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "whatever", "--data", "[1, 2]"]) == 2
    assert "must be a JSON object" in capsys.readouterr().err


def test_run_unknown_chain_names_it(chain_file: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "ghost", "--data", "{}"]) == 2
    assert "No chain named 'ghost'" in capsys.readouterr().err


def test_down_unknown_chain_is_a_no_op(chain_file: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["down", "ghost"]) == 0
    assert "nothing to do" in capsys.readouterr().err


def test_status_without_chains(chain_file: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status"]) == 0
    assert "No chains are deployed" in capsys.readouterr().out


def test_config_error_at_import_names_file_and_line(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad_gpu_chain.py"
    path.write_text(CHAIN.replace(
        'chains.Assets(secret_keys=["greeting_token"])',
        'chains.Assets(secret_keys=["greeting_token"]), compute=chains.Compute(gpu="RTX9000")',
    ))
    assert main(["push", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"{path}:6" in err and "unknown gpu 'RTX9000'" in err
