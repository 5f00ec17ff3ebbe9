"""HTTP(S) sources: one file, streamed with httpx.

``Accept-Encoding: identity`` is sent so that Content-Length is the file's size and the bytes on
the wire are the bytes on disk (a server that compresses anyway is still decoded, unchecked).
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse

import httpx

from infra_chains.fetch._failure import Failure, retry_after_seconds
from infra_chains.fetch._secrets import read_secret
from infra_chains.fetch._source import Context, Fetched
from infra_chains.fetch.items import FetchItem

#: Generous read timeout: a CDN may pause on a cold object; connect fails fast.
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

_TRANSIENT_STATUS = {408, 425, 429}
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-\d+/(\d+|\*)$")


def url_filename(url: str) -> str:
    """The file name an http item is stored under: the URL path's last segment, decoded."""
    name = urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        return "download"
    return name


def status_failure(status: int, url: str, reason: str, retry_after: str | None) -> Failure:
    """A `Failure` for a non-2xx status, worded for the person who has to fix it."""
    what = f"GET {url} answered HTTP {status} {reason}".rstrip()
    if status >= 500 or status in _TRANSIENT_STATUS:
        return Failure(what, transient=True, retry_after=retry_after_seconds(retry_after))
    if status in (401, 403):
        hint = "the URL needs credentials or they were refused; check the item's secret"
    elif status == 404:
        hint = "check the URL"
    else:
        hint = "the server refused the request"
    return Failure(f"{what}: {hint}", transient=False)


class HttpSource:
    """Fetch ``item.source`` into ``<cache dir>/<file name>``.

    A secret, when named, is sent as ``Authorization: Bearer <value>`` (or as is when the value
    already starts with a scheme such as ``Basic ``); httpx drops it on a redirect to another host.
    """

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def fetch(self, item: FetchItem, context: Context) -> Fetched:
        filename = item.filename or url_filename(item.source)
        headers = {"Accept-Encoding": "identity"}
        if item.secret_name is not None:
            token = read_secret(context.secrets_dir, item.secret_name)
            headers["Authorization"] = token if " " in token else f"Bearer {token}"
        resume = context.staging.resumable(filename)
        if resume is not None:
            # Continue what an earlier attempt got, if the file is still the same (If-Range: a
            # changed file comes back whole, with 200).
            headers["Range"] = f"bytes={resume[0]}-"
            headers["If-Range"] = resume[1]
        try:
            with httpx.Client(transport=self._transport, timeout=TIMEOUT, follow_redirects=True) as client:
                with client.stream("GET", item.source, headers=headers) as response:
                    return self._save(item, context, filename, response, resume)
        except httpx.TransportError as exc:
            raise Failure(f"GET {item.source} failed: {type(exc).__name__}: {exc}", transient=True) from None

    def _save(
        self, item: FetchItem, context: Context, filename: str, response: httpx.Response, resume: tuple[int, str] | None
    ) -> Fetched:
        if response.status_code == 416 and resume is not None:
            context.staging.discard_partial(filename)
            raise Failure(f"GET {item.source}: the server cannot continue the earlier partial download", transient=True)
        if not response.is_success:
            raise status_failure(
                response.status_code, item.source, response.reason_phrase, response.headers.get("retry-after")
            )
        encoded = response.headers.get("content-encoding", "identity").lower() not in ("identity", "")
        length_header = response.headers.get("content-length")
        length = int(length_header) if length_header and length_header.isdigit() and not encoded else None
        resume_from, length_source = 0, "Content-Length"
        if response.status_code == 206:
            length_source = "Content-Range"
            resume_from, length = _content_range(response.headers.get("content-range"))
            if resume is None or resume_from != resume[0]:
                context.staging.discard_partial(filename)
                raise Failure(
                    f"GET {item.source}: the server answered 206 for bytes from {resume_from}, which "
                    "we did not ask for",
                    transient=True,
                )
        if item.size is not None and length is not None and length != item.size:
            raise Failure(
                f"GET {item.source}: the server says the file has {length} bytes ({length_source}), "
                f"the item expects {item.size} (size)",
                transient=False,
            )
        context.progress.set_total(item.size if item.size is not None else length)
        chunks = response.iter_bytes() if encoded else response.iter_raw()
        expected, size_source = (item.size, "the item's size") if item.size is not None else (length, length_source)
        etag = response.headers.get("etag")
        record = context.staging.write(
            filename,
            chunks,
            progress=context.progress,
            expected_size=expected,
            size_source=size_source,
            sha256=item.sha256,
            version=etag,
            resume_from=resume_from,
            # Only a strong ETag names the exact bytes, so only then may a retry continue.
            validator=etag if etag and not etag.startswith("W/") and length is not None else None,
            # Fewer bytes than the item's declared size with no Content-Length to blame is the
            # server serving a different file, not a dropped connection.
            truncated_is_transient=length is not None,
        )
        return Fetched(files=[record], resolved=etag)


def _content_range(value: str | None) -> tuple[int, int | None]:
    """``bytes 100-999/1000`` -> ``(100, 1000)``; `Failure` if unreadable."""
    match = _CONTENT_RANGE_RE.match(value or "")
    if match is None:
        raise Failure(f"the server answered 206 with an unreadable Content-Range {value!r}", transient=True)
    total = match.group(2)
    return int(match.group(1)), int(total) if total != "*" else None
