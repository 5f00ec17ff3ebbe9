"""Readiness and liveness probes of a chainlet server: the one copy every target and test uses.

A probe is ``GET /readyz`` (ready to take traffic) or ``GET /healthz`` (the process is alive and
its event loop answers) with a timeout. When the caller knows the incarnation it started (the
contract's ``instance_id``), the answer must echo it in the ``x-infra-chains-instance`` header:
a 200 from anything else (another program on the port, a previous incarnation) is *not* ready.
That is what makes readiness prove identity, here and in the docker and Kubernetes targets.

`wait_ready` polls until ready, while the process is alive, within a deadline; it returns a
`Readiness` for the caller to turn into its own error (a test's `RuntimeError`, a target's
`DeploymentError`) rather than raising one of its own.
"""

from __future__ import annotations

import dataclasses
import http.client
import time
from collections.abc import Callable
from typing import Literal

#: Response header of ``/readyz`` and ``/healthz`` carrying the contract's ``instance_id``.
INSTANCE_HEADER = "x-infra-chains-instance"
READY_PATH = "/readyz"
LIVE_PATH = "/healthz"


@dataclasses.dataclass(frozen=True)
class ProbePolicy:
    """How often a probe runs, how long one may take, how many misses mean "dead".

    The same three numbers as a Kubernetes probe (``periodSeconds``, ``timeoutSeconds``,
    ``failureThreshold``) and a Docker ``HEALTHCHECK`` (interval, timeout, retries), so every
    target can be given one policy.
    """

    period_sec: float
    timeout_sec: float
    failure_threshold: int

    def __post_init__(self) -> None:
        if self.period_sec <= 0 or self.timeout_sec <= 0 or self.failure_threshold < 1:
            raise ValueError(f"ProbePolicy needs positive period and timeout and failure_threshold "
                             f">= 1; got {self}.")


#: Liveness of a ready chainlet: a chainlet whose ``/healthz`` misses 3 probes in a row (about
#: 3-4 s hung: SIGSTOPped, a deadlocked or CPU-bound event loop) is killed and restarted.
#: ``ChainletOptions.health_checks.restart_threshold_seconds`` raises the number of misses
#: (`infra_chains.serving.health`).
LIVENESS = ProbePolicy(period_sec=1.0, timeout_sec=1.0, failure_threshold=3)
#: Readiness of a serving replica where a target routes by it (Kubernetes): one failed
#: ``/readyz`` (``is_healthy()`` false) takes it out of traffic; ``stop_traffic_threshold_seconds``
#: raises the number of misses.
READINESS = ProbePolicy(period_sec=2.0, timeout_sec=1.0, failure_threshold=1)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One probe's outcome; ``detail`` says why it failed, in words for a status line."""

    ok: bool
    status: int | None
    detail: str


def probe(
    host: str,
    port: int,
    path: str = READY_PATH,
    *,
    timeout_sec: float = 1.0,
    instance_id: str | None = None,
) -> ProbeResult:
    """``GET path`` on a fresh connection; ok when 200 and (if given) ``instance_id`` is echoed."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout_sec)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    except TimeoutError:
        return ProbeResult(False, None, f"no answer to GET {path} within {timeout_sec:g} s")
    except (OSError, http.client.HTTPException) as exc:
        return ProbeResult(False, None, f"GET {path} failed: {_describe(exc)}")
    finally:
        connection.close()
    echoed = response.getheader(INSTANCE_HEADER)
    if instance_id is not None and echoed != instance_id:
        who = f"instance {echoed!r}" if echoed else "a server that is not an infra_chains chainlet"
        return ProbeResult(False, response.status,
                           f"port {port} is answered by {who}, not by instance {instance_id!r}")
    if response.status != 200:
        return ProbeResult(False, response.status, f"GET {path} answered HTTP {response.status}")
    return ProbeResult(True, 200, "ok")


@dataclasses.dataclass(frozen=True)
class Readiness:
    """What `wait_ready` saw: ``ready``, the process ``exited``, or the deadline passed."""

    outcome: Literal["ready", "exited", "timeout"]
    last: ProbeResult
    waited_sec: float

    @property
    def ready(self) -> bool:
        return self.outcome == "ready"

    def describe(self) -> str:
        """A clause for an error message: why it is not ready."""
        if self.outcome == "ready":
            return "ready"
        if self.outcome == "exited":
            return f"exited before it was ready (last probe: {self.last.detail})"
        return f"not ready after {self.waited_sec:.1f} s (last probe: {self.last.detail})"


def wait_ready(
    host: str,
    port: int,
    *,
    timeout_sec: float,
    instance_id: str | None = None,
    is_alive: Callable[[], bool] = lambda: True,
    path: str = READY_PATH,
    interval_sec: float = 0.02,
    probe_timeout_sec: float = 1.0,
) -> Readiness:
    """Probe ``path`` until it is ok, ``is_alive()`` turns false, or ``timeout_sec`` passes."""
    started = time.monotonic()
    deadline = started + timeout_sec
    last = ProbeResult(False, None, "not probed yet")
    while True:
        if not is_alive():
            return Readiness("exited", last, time.monotonic() - started)
        remaining = deadline - time.monotonic()
        last = probe(host, port, path, instance_id=instance_id,
                     timeout_sec=max(0.05, min(probe_timeout_sec, remaining)))
        if last.ok:
            return Readiness("ready", last, time.monotonic() - started)
        if time.monotonic() + interval_sec >= deadline:
            # One last look: a process that died during the final probe is "exited", not late.
            outcome: Literal["exited", "timeout"] = "timeout" if is_alive() else "exited"
            return Readiness(outcome, last, time.monotonic() - started)
        time.sleep(interval_sec)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed without an answer"
    return f"{type(exc).__name__}: {exc}"
