"""Chain ports come from outside the ephemeral range, where outgoing connections cannot take them."""

from __future__ import annotations

import pathlib
import random
import socket

from infra_chains.targets.ports import choose_ports, ephemeral_range


def test_ports_are_distinct_free_and_below_the_ephemeral_range() -> None:
    ports = choose_ports(20, ephemeral=(32768, 60999))
    assert len(set(ports)) == 20
    assert all(20000 <= port < 32768 for port in ports)
    for port in ports:  # each is free to listen on now
        with socket.create_server(("127.0.0.1", port)):
            pass


class _Scripted(random.Random):
    """Draws the given ports in order, so the test decides what the chooser meets."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__()
        self._ports = iter(ports)

    def randint(self, a: int, b: int) -> int:
        return next(self._ports)


def test_avoided_and_listening_ports_are_skipped() -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        listening = busy.getsockname()[1]
        free = choose_ports(2, ephemeral=(32768, 60999))
        rng = _Scripted([listening, free[0], free[0], free[1]])
        chosen = choose_ports(1, avoid=[free[0]], ephemeral=(32768, 60999), rng=rng)
    assert chosen == [free[1]]


def test_two_ports_of_one_call_never_coincide() -> None:
    free = choose_ports(2, ephemeral=(32768, 60999))
    rng = _Scripted([free[0], free[0], free[1]])
    assert choose_ports(2, ephemeral=(32768, 60999), rng=rng) == free


def test_an_unusual_range_draws_above_it(tmp_path: pathlib.Path) -> None:
    ports = choose_ports(5, ephemeral=(1024, 40000))
    assert all(40000 < port <= 65535 for port in ports)


def test_the_kernel_range_is_read_and_a_missing_file_gives_none(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "range"
    path.write_text("32768\t60999\n")
    assert ephemeral_range(path) == (32768, 60999)
    assert ephemeral_range(tmp_path / "absent") is None
