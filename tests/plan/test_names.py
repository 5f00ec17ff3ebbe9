"""Names: validation of what users type, and the DNS labels targets derive from chain names."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

from infra_chains.errors import ChainsUsageError
from infra_chains.plan.names import (
    DNS_LABEL_MAX,
    chainlet_label,
    chainlet_labels,
    dns_label,
    kebab,
    validate_chain_name,
    validate_chainlet_name,
    validate_environment_name,
)

DNS_1035 = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")


@pytest.mark.parametrize("name", ["a", "hello", "text-pipeline", "a1", "9lives", "a" * 48])
def test_valid_chain_names(name: str) -> None:
    assert validate_chain_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-a", "a-", "Hello", "a_b", "a.b", "../../victim", "a/b", ".", "..", "a" * 49, "é"]
)
def test_invalid_chain_names_are_rejected_naming_the_rule(name: str) -> None:
    with pytest.raises(ChainsUsageError, match="lowercase letters, digits and '-'"):
        validate_chain_name(name)


def test_environment_names_follow_the_chain_rule() -> None:
    assert validate_environment_name("prod") == "prod"
    with pytest.raises(ChainsUsageError, match="Environment name 'Prod/../x' is invalid"):
        validate_environment_name("Prod/../x")


@pytest.mark.parametrize("name", ["Leaf", "_Private", "my_step", "Text-Gen", "Café", "X" * 200])
def test_valid_chainlet_names(name: str) -> None:
    assert validate_chainlet_name(name) == name


@pytest.mark.parametrize("name", ["", "../x", "a/b", "a.b", "1abc", "a b", "X" * 201, "-a"])
def test_invalid_chainlet_names(name: str) -> None:
    with pytest.raises(ChainsUsageError, match="is invalid"):
        validate_chainlet_name(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("TextPipeline", "text-pipeline"),
        ("HTTPServer", "http-server"),
        ("my_step", "my-step"),
        ("__Dunder__", "dunder"),
        ("V2Model", "v2-model"),
        ("already-kebab", "already-kebab"),
    ],
)
def test_kebab(name: str, expected: str) -> None:
    assert kebab(name) == expected


def test_chainlet_label_joins_chain_and_chainlet() -> None:
    assert chainlet_label("text-pipeline", "TextPipeline") == "text-pipeline-text-pipeline"
    assert chainlet_label("hello", "my_step") == "hello-my-step"


def test_chain_name_is_kept_exactly() -> None:
    # Two distinct valid chain names never share labels (no collapsing of '--').
    assert chainlet_label("a--b", "X") != chainlet_label("a-b", "X")


def test_long_names_are_truncated_with_a_stable_hash() -> None:
    long_a = "Very" + "Long" * 30 + "A"
    long_b = "Very" + "Long" * 30 + "B"
    label_a = chainlet_label("c" * 48, long_a)
    label_b = chainlet_label("c" * 48, long_b)
    assert len(label_a) <= DNS_LABEL_MAX and len(label_b) <= DNS_LABEL_MAX
    assert DNS_1035.match(label_a) and DNS_1035.match(label_b)
    assert label_a != label_b  # the hash tells them apart
    assert re.search(r"-[0-9a-f]{8}$", label_a)


def test_short_plain_names_carry_no_hash() -> None:
    assert chainlet_label("hello", "Leaf") == "hello-leaf"


def test_non_ascii_is_made_safe_and_distinct() -> None:
    cafe, cafe_plain = chainlet_label("hello", "Café"), chainlet_label("hello", "Caf")
    assert DNS_1035.match(cafe) and cafe != cafe_plain


def test_labels_start_with_a_letter() -> None:
    label = chainlet_label("2048", "Game")
    assert DNS_1035.match(label) and label.startswith("c-")


def test_labels_are_deterministic_across_processes() -> None:
    code = "from infra_chains.plan.names import chainlet_label; print(chainlet_label('x', 'Ünïcode' + 'Long' * 20))"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert outputs == {chainlet_label("x", "Ünïcode" + "Long" * 20) + "\n"}


@pytest.mark.parametrize(
    "names",
    [
        ["Leaf", "Mid", "Entry"],
        ["TextPipeline", "Splitter", "Counter_2", "HTTPFetch"],
        [f"Chainlet{i}" for i in range(20)],
    ],
)
def test_every_label_is_a_dns_label(names: list[str]) -> None:
    labels = chainlet_labels("my-chain", names)
    assert list(labels) == names
    assert len(set(labels.values())) == len(names)
    assert all(DNS_1035.match(label) for label in labels.values())


def test_clash_names_both_chainlets() -> None:
    with pytest.raises(ChainsUsageError) as info:
        chainlet_labels("hello", ["FooBar", "Leaf", "Foo_Bar"])
    message = str(info.value)
    assert "'FooBar'" in message and "'Foo_Bar'" in message and "'hello-foo-bar'" in message
    assert "Rename one" in message


def test_duplicate_names_are_a_clash() -> None:
    with pytest.raises(ChainsUsageError, match="two chainlets are named 'Leaf'"):
        chainlet_labels("hello", ["Leaf", "Leaf"])


def test_label_of_an_invalid_chain_name_is_refused() -> None:
    with pytest.raises(ChainsUsageError, match="Chain name"):
        chainlet_label("../x", "Leaf")


def test_dns_label_needs_a_part() -> None:
    with pytest.raises(ValueError):
        dns_label()


CLASHING_CHAIN = '''
import infra_chains as chains


class FooBar(chains.ChainletBase):
    def run_remote(self) -> str:
        return "a"


class Foo_Bar(chains.ChainletBase):
    def run_remote(self) -> str:
        return "b"


@chains.mark_entrypoint
class Entry(chains.ChainletBase):
    def __init__(self, a: FooBar = chains.depends(FooBar), b: Foo_Bar = chains.depends(Foo_Bar)) -> None:
        self._a, self._b = a, b

    def run_remote(self) -> str:
        return self._a.run_remote() + self._b.run_remote()
'''


def test_planning_a_chain_with_clashing_chainlets_fails(tmp_path: pathlib.Path) -> None:
    from infra_chains.framework.graph import build_graph
    from infra_chains.framework.loading import load_entrypoint
    from infra_chains.plan import make_plan

    path = tmp_path / "clashing_names_chain.py"
    path.write_text(CLASHING_CHAIN)
    graph = build_graph(load_entrypoint(path, None))
    with pytest.raises(ChainsUsageError, match="'FooBar' and 'Foo_Bar' both map"):
        make_plan(graph, "clash")
