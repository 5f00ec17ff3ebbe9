"""`ChainService`: the handle `push` returns for a deployed chain, whatever the target."""

from __future__ import annotations

import abc
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pydantic_core

from infra_chains.errors import DependencyUnreachableError
from infra_chains.public_types import DeployedChainlet
from infra_chains.serving import streams
from infra_chains.serving.remote_errors import exception_from_response

if TYPE_CHECKING:
    import httpx

#: JSON for a plain entrypoint, the framed stream (items, their type, mid-stream errors) for a
#: streaming one (`serving/streams.py`).
_ACCEPT = f"application/json, {streams.STREAM_CONTENT_TYPE}"


class ChainService(abc.ABC):
    """Handle for a deployed chain: its status, its entrypoint URL, and a way to call it."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    @abc.abstractmethod
    def run_remote_url(self) -> str:
        """URL to invoke the entrypoint (``POST`` the keyword arguments as JSON)."""

    @property
    @abc.abstractmethod
    def status_page_url(self) -> str:
        """Where the chain's status can be seen."""

    @abc.abstractmethod
    def get_info(self) -> list[DeployedChainlet]:
        """Status of each chainlet (name, is_entrypoint, status, logs_url)."""

    def run_remote(self, json: dict[str, Any], timeout_sec: float = 600.0) -> Any:
        """Invoke the entrypoint with ``json`` (its keyword arguments); returns the JSON answer,
        or, when the entrypoint streams, an iterator of its items (``str`` or ``bytes``, as its
        ``run_remote`` yields them) that yields each as it arrives.

        A failure in the chain raises the same exceptions a stub raises: the remote traceback of
        every hop in the message, the HTTP status kept; an error raised mid-stream is raised by
        the iterator after the items before it. ``timeout_sec`` bounds the wait for the answer
        and, for a stream, each pause between items. Leaving a stream unfinished closes it.
        """
        import httpx  # imported here: the CLI's start-up should not pay for it

        client = httpx.Client(timeout=timeout_sec)
        stream: StreamedItems | None = None
        try:
            request = client.build_request("POST", self.run_remote_url, json=json,
                                           headers={"Accept": _ACCEPT})
            response = client.send(request, stream=True)
            media_type, _, params = response.headers.get("content-type", "").partition(";")
            if response.is_success and media_type.strip() == streams.STREAM_CONTENT_TYPE:
                item_type: type[str] | type[bytes] = bytes if "item=bytes" in params else str
                stream = StreamedItems(client, response, item_type, self.name, self.run_remote_url)
                return stream  # it closes the client
            response.read()
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        finally:
            if stream is None:
                client.close()
        if response.is_success:
            return response.json()
        raise exception_from_response(
            response.status_code, response.content, chainlet=self.name, url=self.run_remote_url
        )

    def _unreachable(self, exc: Exception) -> DependencyUnreachableError:
        return DependencyUnreachableError(
            f"Chain {self.name!r} is not reachable at {self.run_remote_url}: {exc}. "
            "Is the chain still deployed and its entrypoint ready? (the target's status of the chain says).",
            chainlet=self.name, url=self.run_remote_url,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} at {self.run_remote_url}>"


class StreamedItems(Iterator[Any]):
    """What `ChainService.run_remote` returns for a streaming entrypoint: its items (``str`` or
    ``bytes``) as they arrive. The connection closes at the stream's end, on an error, with
    `close` (or the ``with`` block), or when the iterator is dropped unfinished."""

    def __init__(self, client: httpx.Client, response: httpx.Response,
                 item_type: type[str] | type[bytes], name: str, url: str) -> None:
        self.item_type = item_type
        self._client = client
        self._response = response
        self._name = name
        self._url = url
        self._items = self._read()

    def __next__(self) -> Any:
        return next(self._items)

    def __enter__(self) -> StreamedItems:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading (the producer stops too) and close the connection; idempotent."""
        self._items.close()  # a later `next` ends the iteration
        self._response.close()
        self._client.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<stream of {self.item_type.__name__} from chain {self._name!r}>"

    def _broken(self, reason: str) -> DependencyUnreachableError:
        return DependencyUnreachableError(
            f"Stream from chain {self._name!r} at {self._url} broke: {reason}.",
            chainlet=self._name, url=self._url)

    def _read(self) -> Generator[Any, None, None]:
        import httpx

        head = streams.HEAD
        as_text = self.item_type is str
        buffer = bytearray()
        try:
            try:
                for chunk in self._response.iter_bytes():
                    buffer += chunk
                    position = 0
                    while len(buffer) - position >= head.size:
                        kind, length = head.unpack_from(buffer, position)
                        if length > streams.MAX_FRAME_BYTES or kind not in _KINDS:
                            raise self._broken(f"not a valid frame sequence (frame kind {kind!r}, "
                                               f"length {length})")
                        end = position + head.size + length
                        if end > len(buffer):
                            break
                        payload = bytes(buffer[position + head.size:end])
                        position = end
                        if kind == streams.DATA:
                            yield payload.decode() if as_text else payload
                        elif kind == streams.ERROR:
                            raise _frame_error(payload, self._name, self._url)
                        else:
                            return
                    del buffer[:position]
            except httpx.TransportError as exc:
                raise self._broken(str(exc)) from exc
            raise self._broken("the stream ended without its end mark (a chainlet's process died "
                               "or the connection broke)")
        finally:
            self._response.close()
            self._client.close()


_KINDS = (streams.DATA, streams.ERROR, streams.END)


def _frame_error(payload: bytes, name: str, url: str) -> Exception:
    """The exception of an error frame: as a stub raises it, with the status the detail keeps."""
    status = 500
    try:
        status = int(pydantic_core.from_json(payload)["error"]["status_code"])
    except Exception:  # noqa: BLE001 - a malformed detail is reported as the body's text
        pass
    return exception_from_response(status, payload, chainlet=name, url=url)
