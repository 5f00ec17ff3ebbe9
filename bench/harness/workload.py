"""The workload every system serves: the same text chain and the same 1 MiB float32 array.

Kept in one place so each system's adapter only decides *how* to send it, never *what*.
Stdlib only: the harness runs under any python3 >= 3.11 without numpy.
"""
from __future__ import annotations

import array
import json

TEXT_INPUT = "  Hello from the infra_chains benchmark: entry, mid, leaf  "
# Entry strips, Mid lower-cases, Leaf upper-cases; each appends its tag on the way back.
TEXT_EXPECTED = {"text": TEXT_INPUT.strip().upper() + "|leaf|mid|entry", "hops": 3}
TEXT_BODY = json.dumps({"text": TEXT_INPUT}).encode()

ARRAY_LEN = 262_144  # float32 -> exactly 1 MiB
ARRAY_VALUES = [(i % 1024) * 0.25 for i in range(ARRAY_LEN)]  # exact in float32 and in JSON
ARRAY_RAW = array.array("f", ARRAY_VALUES).tobytes()
ARRAY_JSON_BODY = json.dumps({"data": ARRAY_VALUES}).encode()
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def check_text(body: bytes) -> None:
    """The text chain answered with the expected Result (all three hops ran)."""
    got = json.loads(body)
    if got != TEXT_EXPECTED:
        raise ValueError(f"unexpected text result: {got!r}")


def check_array_json(body: bytes) -> None:
    """The array came back intact as a JSON list (bare, or under a 'data' key)."""
    got = json.loads(body)
    if isinstance(got, dict):
        got = got.get("data")
    if not isinstance(got, list) or len(got) != ARRAY_LEN or got[:5] != ARRAY_VALUES[:5] or got[-1] != ARRAY_VALUES[-1]:
        raise ValueError(f"unexpected array JSON result ({type(got).__name__}, {str(got)[:100]})")


def check_array_binary(body: bytes) -> None:
    """The array came back intact in some binary framing: its raw bytes appear verbatim."""
    if ARRAY_RAW not in body:
        raise ValueError(f"array bytes not found in binary response ({len(body)} bytes: {body[:80]!r})")
