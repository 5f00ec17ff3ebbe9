"""Hugging Face hub sources: a repository snapshot via ``huggingface_hub``.

The revision is resolved to a commit first and the snapshot is fetched at that commit, so the
file list we verify against and the files we download cannot disagree if a branch moves
meanwhile. Files land in staging through the hub client's ``local_dir`` mode (which resumes an
interrupted attempt itself), are checked against the hub's metadata (size; SHA-256 of LFS files),
and the client's bookkeeping folder (``.cache/huggingface``) is dropped before the move into place.

The endpoint is the item's ``endpoint_url``, else ``HF_ENDPOINT`` read at fetch time (the hub
client reads it only once, at import). The token is the item's secret, else none: ``token=False``
stops the client from falling back to ``HF_TOKEN`` or a stored login.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import threading
from typing import Any

from infra_chains._optional import MissingExtraError, require
from infra_chains.fetch._cache import FileRecord, sha256_of
from infra_chains.fetch._failure import Failure
from infra_chains.fetch._progress import INTERVAL_SEC
from infra_chains.fetch._secrets import read_secret
from infra_chains.fetch._source import Context, Fetched
from infra_chains.fetch.items import FetchItem

#: The hub client's bookkeeping folder inside ``local_dir``.
_CLIENT_FOLDER = ".cache"


class HfSource:
    def fetch(self, item: FetchItem, context: Context) -> Fetched:
        try:
            purpose = f"Fetching the Hugging Face asset {item.source}"
            hub = require("huggingface_hub", extra="assets", purpose=purpose)
            hub_api = require("huggingface_hub.hf_api", extra="assets", purpose=purpose)
            hub_utils = require("huggingface_hub.utils", extra="assets", purpose=purpose)
        except MissingExtraError as exc:
            raise Failure(str(exc), transient=False) from None
        token: str | bool = False
        if item.secret_name is not None:
            token = read_secret(context.secrets_dir, item.secret_name)
        endpoint = item.endpoint_url or os.environ.get("HF_ENDPOINT") or None
        where = f"{item.repo_type} {item.source}@{item.revision or 'default branch'}"
        api = hub.HfApi(endpoint=endpoint, token=token)
        info = _call(hub_utils, where, api.repo_info, item.source, repo_type=item.repo_type, revision=item.revision)
        commit: str = info.sha
        tree = _call(hub_utils, where, lambda: list(api.list_repo_tree(
            item.source, recursive=True, revision=commit, repo_type=item.repo_type
        )))  # fmt: skip
        files = [entry for entry in tree if isinstance(entry, hub_api.RepoFile)]
        wanted = list(hub_utils.filter_repo_objects(
            files, allow_patterns=item.allow_patterns, ignore_patterns=item.ignore_patterns, key=lambda f: f.path
        ))  # fmt: skip
        if not wanted:
            raise Failure(
                f"no files in {where} (commit {commit}) match allow_patterns={item.allow_patterns} "
                f"ignore_patterns={item.ignore_patterns}",
                transient=False,
            )
        context.progress.set_total(sum(f.size for f in wanted))
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(context, stop), daemon=True)
        watcher.start()
        try:
            _call(
                hub_utils,
                where,
                hub.snapshot_download,
                item.source,
                repo_type=item.repo_type,
                revision=commit,
                local_dir=str(context.staging.dir),
                token=token,
                allow_patterns=item.allow_patterns,
                ignore_patterns=item.ignore_patterns,
                endpoint=endpoint,
                tqdm_class=_quiet_tqdm(),
            )
        finally:
            stop.set()
            watcher.join()
        records = [_verify(context.staging.dir, f) for f in wanted]
        context.progress.set_done(sum(r.size for r in records))
        shutil.rmtree(context.staging.dir / _CLIENT_FOLDER, ignore_errors=True)
        return Fetched(files=records, resolved=commit)


def _verify(root: pathlib.Path, entry: Any) -> FileRecord:
    """Check one downloaded file against the hub's metadata; a mismatch removes it (and the
    client's record of it, so the retry downloads it again) and is transient."""
    path = root / entry.path
    try:
        size = path.stat().st_size
    except OSError:
        raise Failure(f"{entry.path}: the hub client finished without writing it", transient=True) from None
    digest = sha256_of(path)
    expected = entry.lfs.sha256 if entry.lfs is not None else None
    problem = None
    if size != entry.size:
        problem = f"got {size} bytes, the hub says {entry.size}"
    elif expected is not None and digest != expected:
        problem = f"SHA-256 mismatch: the hub says {expected}, got {digest}"
    if problem is not None:
        path.unlink(missing_ok=True)
        for metadata in (root / _CLIENT_FOLDER).rglob(f"{path.name}.metadata"):
            metadata.unlink(missing_ok=True)
        raise Failure(f"{entry.path}: {problem}", transient=True)
    return FileRecord(path=entry.path, size=size, sha256=digest)


def _watch(context: Context, stop: threading.Event) -> None:
    """Report progress from the bytes in staging: the hub client's own progress is a tqdm bar,
    which belongs on a terminal, not in a chainlet's log."""
    while not stop.wait(INTERVAL_SEC / 2):
        total = 0
        for path in context.staging.dir.rglob("*"):
            try:
                if path.is_file():
                    total += path.stat().st_size
            except OSError:
                continue  # renamed under us
        context.progress.set_done(total)


def _quiet_tqdm() -> type:
    tqdm = require("tqdm.auto", extra="assets").tqdm

    class Quiet(tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Quiet


def _call(errors: Any, where: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the hub client, turning its errors into a `Failure` worded for the fix. ``errors`` is
    ``huggingface_hub.utils``, which has exported these classes from 0.x to 2.x alike."""
    try:
        return function(*args, **kwargs)
    except errors.GatedRepoError as exc:
        raise Failure(f"{where} is gated: accept its terms on the hub with the account of the item's token ({_first_line(exc)})", transient=False) from None
    except errors.RepositoryNotFoundError as exc:
        raise Failure(
            f"{where}: repository not found (or private and the token, if any, has no access): "
            f"{_first_line(exc)}; check the repo id and the item's secret",
            transient=False,
        ) from None
    except errors.RevisionNotFoundError as exc:
        raise Failure(f"{where}: revision not found: {_first_line(exc)}", transient=False) from None
    except errors.HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", 0) or 0
        transient = status >= 500 or status in (408, 429) or status == 0
        raise Failure(f"{where}: hub error (HTTP {status}): {_first_line(exc)}", transient=transient) from None
    except (ValueError, errors.HFValidationError) as exc:
        raise Failure(f"{where}: {exc}", transient=False) from None
    except Exception as exc:  # connection errors: httpx's, requests' or the hub's own wrappers
        raise Failure(f"{where}: {type(exc).__name__}: {_first_line(exc)}", transient=True) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
