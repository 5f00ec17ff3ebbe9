"""Hand-made streaming relay for bench/streaming.py: raw ASGI on uvicorn, aiohttp between steps.

ROLE=leaf yields ``count`` items of ``size`` bytes, each sent as its own chunk; ROLE=mid/entry
POST the same JSON to NEXT_URL and pass the body on chunk by chunk as aiohttp hands it over (no
framing, no error signalling: the least a streaming relay can do).
"""
from __future__ import annotations

import json
import os

import aiohttp

ROLE = os.environ["ROLE"]
NEXT_URL = os.environ.get("NEXT_URL", "")
_session: aiohttp.ClientSession | None = None


def session() -> aiohttp.ClientSession:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=4),
            timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False)
    return _session


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")]})
    if ROLE == "leaf":
        args = json.loads(body)
        item = b"x" * args["size"]
        for _ in range(args["count"]):
            await send({"type": "http.response.body", "body": item, "more_body": True})
    else:
        async with session().post(f"{NEXT_URL}/run_remote", data=body,
                                  headers={"Content-Type": "application/json"}) as response:
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
