"""Prometheus metrics of ``/run_remote``, rendered by hand in the text exposition format.

A client library would add a dependency and a lock per observation for four numbers; one event
loop updates these, so plain ints suffice.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

#: Latency bucket bounds in seconds: per-hop overhead is ~0.5 ms (PERF.md), user work much more.
BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)


class Metrics:
    """Request count by status, errors, a latency histogram, and in-flight/queued gauges."""

    def __init__(
        self,
        chainlet: str,
        gauges: Callable[[], tuple[int, int]],
        body_bytes: Callable[[], tuple[int, int]] = lambda: (0, 0),
    ) -> None:
        """``gauges`` returns ``(in_flight, queued)``, ``body_bytes`` ``(reserved, capacity)`` of
        the request-body memory budget, when metrics are scraped."""
        self._label = f'chainlet="{_escape(chainlet)}"'
        self._gauges = gauges
        self._body_bytes = body_bytes
        self.by_status: dict[int, int] = {}
        self.errors = 0
        self._bucket_counts = [0] * (len(BUCKETS) + 1)
        self._sum = 0.0
        self._count = 0

    def observe(self, status: int, seconds: float) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status >= 500:
            self.errors += 1
        self._bucket_counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self._sum += seconds
        self._count += 1

    def render(self) -> bytes:
        label = self._label
        in_flight, queued = self._gauges()
        reserved, capacity = self._body_bytes()
        lines = [
            "# HELP infra_chains_requests_total Requests to /run_remote by HTTP status.",
            "# TYPE infra_chains_requests_total counter",
            *(f'infra_chains_requests_total{{{label},code="{code}"}} {count}'
              for code, count in sorted(self.by_status.items())),
            "# HELP infra_chains_request_errors_total Requests to /run_remote answered with 5xx.",
            "# TYPE infra_chains_request_errors_total counter",
            f"infra_chains_request_errors_total{{{label}}} {self.errors}",
            "# HELP infra_chains_request_duration_seconds Latency of /run_remote.",
            "# TYPE infra_chains_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*BUCKETS, float("inf")), self._bucket_counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'infra_chains_request_duration_seconds_bucket{{{label},le="{le}"}} {cumulative}')
        lines += [
            f"infra_chains_request_duration_seconds_sum{{{label}}} {self._sum!r}",
            f"infra_chains_request_duration_seconds_count{{{label}}} {self._count}",
            "# HELP infra_chains_in_flight_requests Requests running user code now.",
            "# TYPE infra_chains_in_flight_requests gauge",
            f"infra_chains_in_flight_requests{{{label}}} {in_flight}",
            "# HELP infra_chains_queued_requests Requests waiting for a predict_concurrency slot.",
            "# TYPE infra_chains_queued_requests gauge",
            f"infra_chains_queued_requests{{{label}}} {queued}",
            "# HELP infra_chains_request_body_bytes Request-body memory reserved now (of the budget).",
            "# TYPE infra_chains_request_body_bytes gauge",
            f"infra_chains_request_body_bytes{{{label}}} {reserved}",
            "# HELP infra_chains_request_body_budget_bytes The request-body memory budget.",
            "# TYPE infra_chains_request_body_budget_bytes gauge",
            f"infra_chains_request_body_budget_bytes{{{label}}} {capacity}",
        ]
        return ("\n".join(lines) + "\n").encode()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
