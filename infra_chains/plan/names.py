"""Names: what a user may call a chain, a chainlet or an environment, and the DNS labels targets
derive from them.

Every API and command that takes a name validates it here before it is used, above all before a
filesystem path is built from it. Targets that name things in a shared namespace (containers,
Kubernetes objects, the URLs written into dependents' contracts) take `chainlet_labels`: DNS-1123
labels that are also DNS-1035 labels (a Kubernetes Service needs a letter first), at most 63
characters, lowercase, and the same on every machine for the same names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from infra_chains.errors import ChainsUsageError

CHAIN_NAME_MAX = 48
#: Chain (and environment) names: a DNS label, a Docker name and a directory name alike.
CHAIN_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$")
#: Chainlet names: a class name (any Python identifier) or `RemoteConfig.name`; never a path
#: separator or a dot, and short enough to name a file.
CHAINLET_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
CHAINLET_NAME_MAX = 200
DNS_LABEL_MAX = 63
#: Hex digits of the hash a label carries when it had to be shortened or lost characters.
HASH_LENGTH = 8
_DNS_LABEL_RE = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
#: A part that is already a lowercase label (a chain name) is kept exactly as it is.
_KEPT_PART = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def is_valid_chain_name(name: str) -> bool:
    return bool(CHAIN_NAME_RE.match(name))


def validate_chain_name(name: str) -> str:
    """``name`` if it is a valid chain name; otherwise a `ChainsUsageError` saying what is."""
    return _valid_label_name("Chain", name, "'text-pipeline'")


def validate_environment_name(name: str) -> str:
    """Environments name stacks and namespaces, so they follow the chain-name rule."""
    return _valid_label_name("Environment", name, "'dev', 'prod'")


def _valid_label_name(kind: str, name: str, example: str) -> str:
    if not is_valid_chain_name(name):
        raise ChainsUsageError(
            f"{kind} name {name!r} is invalid: use 1-{CHAIN_NAME_MAX} lowercase letters, digits "
            f"and '-', starting and ending with a letter or digit (e.g. {example})."
        )
    return name


def validate_chainlet_name(name: str) -> str:
    """``name`` if it can be a chainlet's name (a class name or `RemoteConfig.name`)."""
    if len(name) > CHAINLET_NAME_MAX or not (name.isidentifier() or CHAINLET_NAME_RE.match(name)):
        raise ChainsUsageError(
            f"Chainlet name {name[:80]!r} is invalid: a chainlet is named by its class (or "
            f"RemoteConfig.name): up to {CHAINLET_NAME_MAX} letters, digits, '_' and '-', "
            "starting with a letter or '_'."
        )
    return name


def kebab(name: str) -> str:
    """``TextPipeline`` -> ``text-pipeline``, ``my_step`` -> ``my-step`` (lossy, never empty)."""
    words = _WORD_BOUNDARY.sub("-", name).lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", words)).strip("-")


def dns_label(*parts: str) -> str:
    """A DNS label for ``parts`` joined with '-': each part in kebab case, lowercase, ≤ 63 chars.

    Stable: the same parts give the same label everywhere. When the result had to be shortened,
    or a part lost characters that kebab case cannot carry (non-ASCII), a short hash of the exact
    parts is appended, so different inputs keep different labels.
    """
    if not parts:
        raise ValueError("dns_label needs at least one part")
    pieces = [part if _KEPT_PART.match(part) else kebab(part) for part in parts]
    lossy = any(re.search(r"[^A-Za-z0-9_-]", part) or not piece for part, piece in zip(parts, pieces))
    label = "-".join(piece for piece in pieces if piece)
    if not label or not label[0].isalpha():
        label = f"c-{label}".rstrip("-")  # a Kubernetes Service name must start with a letter
    if lossy or len(label) > DNS_LABEL_MAX:
        digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:HASH_LENGTH]
        label = f"{label[: DNS_LABEL_MAX - HASH_LENGTH - 1].rstrip('-')}-{digest}"
    assert _DNS_LABEL_RE.match(label), label
    return label


def chainlet_label(chain_name: str, chainlet_name: str) -> str:
    """The DNS label of one chainlet of a chain (container, Kubernetes objects, in-cluster URL)."""
    return dns_label(validate_chain_name(chain_name), validate_chainlet_name(chainlet_name))


def chainlet_labels(chain_name: str, chainlet_names: Iterable[str]) -> dict[str, str]:
    """`chainlet_label` of every chainlet of a chain; an error if two chainlets share one."""
    labels: dict[str, str] = {}
    owners: dict[str, str] = {}
    for name in chainlet_names:
        label = chainlet_label(chain_name, name)
        if label in owners:
            other = owners[label]
            what = (f"two chainlets are named {name!r}" if other == name
                    else f"chainlets {other!r} and {name!r} both map to the name {label!r}")
            raise ChainsUsageError(
                f"Chain {chain_name!r}: {what}, which names their containers, Kubernetes objects "
                "and URLs. Rename one of them (its class, or RemoteConfig(name=...))."
            )
        owners[label] = name
        labels[name] = label
    return labels
