"""`infra-chains preview`: what a push to a kubernetes stack would change (fake `pulumi`)."""

from __future__ import annotations

import pytest

from infra_chains.cli.app import main
from tests.targets.kubernetes.conftest import FakePulumi, fake_pulumi  # noqa: F401 - the fixture
from tests.targets.kubernetes.test_target import EXAMPLE


def test_missing_secrets_are_named_with_the_clis_options(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    monkeypatch.delenv("pipeline_token", raising=False)
    monkeypatch.delenv("PIPELINE_TOKEN", raising=False)
    assert main(["preview", str(EXAMPLE), "--stack", "dev"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "'pipeline_token' (used by Summarizer)" in err
    assert "--secret KEY=VALUE" in err and "secrets=" not in err
    assert ["preview"] not in fake_pulumi.commands()  # refused before the engine ran
