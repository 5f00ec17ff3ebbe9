"""Loopback ports for a chain's listeners, chosen outside the kernel's ephemeral range.

A port from `bind(("127.0.0.1", 0))` comes from the ephemeral range, the same range the kernel
draws the local port of every *outgoing* connection from. A chain keeps its ports across pushes
and restarts, so a port that sits free for a moment (a supervisor restarting, a container being
replaced) could be taken by any client's connection and the chain could not listen again. Ports
below that range are never handed out implicitly, so only a program that asks for one by number
can collide with us — which is the case the targets already report by name.
"""

from __future__ import annotations

import contextlib
import pathlib
import random
import socket
from collections.abc import Collection

__all__ = ["choose_ports", "ephemeral_range"]

#: The range we draw from when the kernel's ephemeral range cannot be read (not Linux).
_FALLBACK_LOW, _FALLBACK_HIGH = 20000, 32767
#: Ports below this are left to well-known and registered services people run by hand.
_LOWEST = 20000
_ATTEMPTS = 200
_EPHEMERAL_RANGE_FILE = pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range(path: pathlib.Path = _EPHEMERAL_RANGE_FILE) -> tuple[int, int] | None:
    """The kernel's (low, high) ephemeral port range, or None where it cannot be read."""
    try:
        low, high = (int(part) for part in path.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def _candidate_range(ephemeral: tuple[int, int] | None) -> tuple[int, int]:
    if ephemeral is None:
        return _FALLBACK_LOW, _FALLBACK_HIGH
    low, high = ephemeral
    if low - 1 - _LOWEST >= 1000:
        return _LOWEST, low - 1  # the usual Linux case: 20000..32767
    if 65535 - high >= 1000:
        return high + 1, 65535  # an unusual configuration with room above
    return _FALLBACK_LOW, _FALLBACK_HIGH


def choose_ports(count: int, *, avoid: Collection[int] = (),
                 ephemeral: tuple[int, int] | None = None, rng: random.Random | None = None) -> list[int]:
    """`count` distinct loopback ports that nothing listens on now, none in the ephemeral range.

    Each is bound (held) until all are chosen, so no two coincide; `avoid` holds ports already
    given to the chain. Falls back to the kernel's choice only if the range is exhausted.
    """
    low, high = _candidate_range(ephemeral if ephemeral is not None else ephemeral_range())
    pick = rng or random.SystemRandom()
    chosen: list[int] = []
    with contextlib.ExitStack() as held:
        for _ in range(count):
            for _attempt in range(_ATTEMPTS):
                port = pick.randint(low, high)
                if port in avoid or port in chosen:
                    continue
                sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                chosen.append(port)
                break
            else:  # a crowded range: let the kernel choose rather than fail the push
                sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                sock.bind(("127.0.0.1", 0))
                chosen.append(int(sock.getsockname()[1]))
    return chosen
