"""The supervisor's environment: an allow-list, never the pushing shell's secrets."""

from __future__ import annotations

from infra_chains.targets.local.environ import supervisor_environment


def test_only_allow_listed_variables_pass() -> None:
    shell = {
        "PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
        "PYTHONPATH": "/src", "INFRA_CHAINS_HOME": "/state", "TMPDIR": "/tmp", "USER": "u",
        "AWS_SECRET_ACCESS_KEY": "secret", "GITHUB_TOKEN": "t", "OPENAI_API_KEY": "k",
    }
    assert supervisor_environment(shell) == {
        "PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "LC_ALL": "C", "TZ": "UTC",
        "PYTHONPATH": "/src", "INFRA_CHAINS_HOME": "/state", "TMPDIR": "/tmp", "USER": "u",
    }


def test_names_opted_in_pass_too() -> None:
    shell = {"PATH": "/bin", "HF_HOME": "/cache", "HTTPS_PROXY": "http://p", "AWS_PROFILE": "x",
             "INFRA_CHAINS_PASS_ENV": "HF_HOME, HTTPS_PROXY"}
    passed = supervisor_environment(shell)
    assert passed["HF_HOME"] == "/cache" and passed["HTTPS_PROXY"] == "http://p"
    assert "AWS_PROFILE" not in passed
