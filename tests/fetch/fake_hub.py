"""A fake Hugging Face hub on 127.0.0.1: the few routes ``snapshot_download`` uses.

``/api/{models|datasets}/{repo}/revision/{rev}`` (repo info: the commit), ``.../tree/{rev}``
(the file list with sizes and LFS SHA-256), ``/{repo}/resolve/{rev}/{path}`` (HEAD: metadata
headers; GET: the bytes). Point the client at it with ``HF_ENDPOINT`` or an item's endpoint_url.
Failure knobs: ``fail_next`` answers the next N requests with a status; ``corrupt`` serves other
bytes for a path than the tree's SHA-256 says.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import http.server
import json
import threading
import urllib.parse
from typing import Self


@dataclasses.dataclass
class Repo:
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    branch: str = "main"
    #: Paths stored as LFS files (the tree lists their SHA-256).
    lfs: set[str] = dataclasses.field(default_factory=set)
    private_token: str | None = None


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.authorization: list[str | None] = []
        self.fail_next: list[int] = []
        self.corrupt: set[str] = set()
        self._lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                owner._handle(self, head=True)

            def do_GET(self) -> None:
                owner._handle(self, head=False)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def downloads(self) -> int:
        """GETs of file contents so far."""
        return sum(n for key, n in self.calls.items() if key.startswith("GET") and "/resolve/" in key)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: http.server.BaseHTTPRequestHandler, *, head: bool) -> None:
        path = urllib.parse.urlsplit(request.path).path
        with self._lock:
            self.calls[f"{request.command} {path}"] += 1
            self.authorization.append(request.headers.get("Authorization"))
            failure = self.fail_next.pop(0) if self.fail_next else None
        if failure is not None:
            return _answer(request, failure, b'{"error": "injected"}', head=head)
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) == 4:  # repo info at the default branch
            self._api(request, "/".join(parts[2:4]), "revision", "", head=head)
        elif parts[0] == "api" and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            self._api(request, "/".join(parts[2:4]), parts[4], "/".join(parts[5:]), head=head)
        elif len(parts) >= 5 and parts[2] == "resolve":
            self._resolve(request, "/".join(parts[:2]), parts[3], "/".join(parts[4:]), head=head)
        else:
            _answer(request, 404, b'{"error": "not found"}', head=head)

    def _repo(self, request: http.server.BaseHTTPRequestHandler, repo_id: str, revision: str) -> Repo | None:
        repo = self.repos.get(repo_id)
        if repo is None or (
            repo.private_token is not None and request.headers.get("Authorization") != f"Bearer {repo.private_token}"
        ):
            _answer(request, 401, b'{"error": "Repository not found"}', headers={"X-Error-Code": "RepoNotFound"})
            return None
        if revision not in (repo.commit, repo.branch, ""):
            _answer(request, 404, b'{"error": "Invalid rev id"}', headers={"X-Error-Code": "RevisionNotFound"})
            return None
        return repo

    def _api(self, request: http.server.BaseHTTPRequestHandler, repo_id: str, route: str, revision: str, *, head: bool) -> None:
        repo = self._repo(request, repo_id, revision)
        if repo is None:
            return
        if route == "revision":
            body = {"id": repo_id, "sha": repo.commit, "private": False, "siblings": [{"rfilename": p} for p in repo.files]}
        else:
            body = []
            for name, data in sorted(repo.files.items()):
                entry: dict[str, object] = {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                if name in repo.lfs:
                    entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
                body.append(entry)
        _answer(request, 200, json.dumps(body).encode(), head=head, headers={"Content-Type": "application/json"})

    def _resolve(self, request: http.server.BaseHTTPRequestHandler, repo_id: str, revision: str, path: str, *, head: bool) -> None:
        repo = self._repo(request, repo_id, revision)
        if repo is None:
            return
        data = repo.files.get(path)
        if data is None:
            _answer(request, 404, b'{"error": "Entry not found"}', headers={"X-Error-Code": "EntryNotFound"}, head=head)
            return
        etag = hashlib.sha256(data).hexdigest() if path in repo.lfs else hashlib.sha1(data).hexdigest()
        if path in self.corrupt:
            data = bytes(len(data))
        headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{etag}"', "Content-Type": "application/octet-stream"}
        if path in repo.lfs:
            headers["X-Linked-Etag"] = f'"{etag}"'
            headers["X-Linked-Size"] = str(len(data))
        _answer(request, 200, data, head=head, headers=headers)


def _answer(
    request: http.server.BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    *,
    head: bool = False,
    headers: dict[str, str] | None = None,
) -> None:
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    if not head:
        request.wfile.write(body)
