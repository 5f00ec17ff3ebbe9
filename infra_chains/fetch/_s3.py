"""S3 and S3-compatible sources (MinIO, R2): one object, or every object under a prefix, via boto3.

``s3://bucket/key`` is one object if that key exists, else the prefix ``key/``;
``s3://bucket/prefix/`` is always a prefix. Objects land under the item directory at their path
relative to the prefix (a single object under its base name).

boto3 is imported here only, so images without S3 items need not install it. Its own retries are
turned off (one attempt per call): the runner retries with its own policy and logs each retry.
Credentials come from the item's secret (JSON, see `FetchItem.secret_name`); without one the
requests are unsigned (public buckets), never signed with whatever ``AWS_*`` the process has.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import fnmatch
import json
import posixpath
import re
from collections.abc import Iterator
from typing import Any

from infra_chains._optional import MissingExtraError, require
from infra_chains.fetch._cache import CHUNK_SIZE, FileRecord
from infra_chains.fetch._failure import Failure
from infra_chains.fetch._secrets import read_secret
from infra_chains.fetch._source import Context, Fetched
from infra_chains.fetch.items import FetchItem

#: Objects fetched at once under a prefix; S3 serves parallel GETs well, one stream rarely fills
#: a link.
MAX_WORKERS = 8

_MD5_ETAG_RE = re.compile(r'^"?([0-9a-f]{32})"?$')
_TRANSIENT_CODES = {
    "SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
    "Throttling", "ThrottlingException", "RequestLimitExceeded", "PreconditionFailed", "412",
}  # fmt: skip
_CREDENTIAL_FIELDS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "region_name")


@dataclasses.dataclass(frozen=True)
class _Object:
    key: str
    path: str  # relative path in the item directory
    size: int
    etag: str


@dataclasses.dataclass(frozen=True)
class _Missing:
    """What a HeadObject of a key that is not there answered (the caller tries the prefix)."""

    code: str
    status: int


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``."""
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def matches(path: str, allow: list[str] | None, ignore: list[str] | None) -> bool:
    """Whether ``path`` passes the allow/ignore fnmatch patterns (the hub's semantics)."""
    if allow is not None and not any(fnmatch.fnmatch(path, p) for p in allow):
        return False
    return ignore is None or not any(fnmatch.fnmatch(path, p) for p in ignore)


def md5_of_etag(etag: str, head: dict[str, Any]) -> str | None:
    """The MD5 an ETag stands for, or None: only single-part objects without KMS or customer-key
    encryption have an MD5 for an ETag (multipart ETags end in ``-<parts>``)."""
    match = _MD5_ETAG_RE.match(etag)
    if match is None or head.get("SSECustomerAlgorithm") or str(head.get("ServerSideEncryption", "")).startswith("aws:kms"):
        return None
    return match.group(1)


class S3Source:
    def fetch(self, item: FetchItem, context: Context) -> Fetched:
        try:
            boto3 = require("boto3", extra="assets", purpose=f"Fetching the s3 asset {item.source}")
            botocore = require("botocore", extra="assets")
            botocore_config = require("botocore.config", extra="assets")
            botocore_exceptions = require("botocore.exceptions", extra="assets")
        except MissingExtraError as exc:
            raise Failure(str(exc), transient=False) from None
        credentials: dict[str, str] = {}
        if item.secret_name is not None:
            credentials = _parse_credentials(read_secret(context.secrets_dir, item.secret_name), item.secret_name)
        options: dict[str, Any] = {
            "retries": {"total_max_attempts": 1},
            "connect_timeout": 10,
            "read_timeout": 60,
            "user_agent_extra": "infra-chains-fetch",
        }
        signed = bool(credentials.get("aws_access_key_id"))
        if not signed:
            options["signature_version"] = botocore.UNSIGNED
        region = credentials.pop("region_name", None)
        try:
            session = boto3.session.Session(region_name=region, **credentials)
            client = session.client("s3", endpoint_url=item.endpoint_url, config=botocore_config.Config(**options))
        except Exception as exc:  # boto3 raises a dozen config error types; all are permanent
            raise Failure(f"cannot make an S3 client: {type(exc).__name__}: {exc}", transient=False) from None
        bucket, key = parse_s3_url(item.source)
        return _Bucket(client, bucket, signed, botocore_exceptions).fetch(item, key, context)


class _Bucket:
    """One attempt's S3 calls against one bucket, with errors worded for the fix."""

    def __init__(self, client: Any, name: str, signed: bool, exceptions: Any) -> None:
        self._client = client
        self._name = name
        self._signed = signed
        self._exceptions = exceptions

    def fetch(self, item: FetchItem, key: str, context: Context) -> Fetched:
        objects = self._list(item, key)
        context.progress.set_total(sum(o.size for o in objects))
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(objects))) as pool:
            futures = [pool.submit(self._download, context, o) for o in objects]
            try:
                files = [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return Fetched(files=sorted(files, key=lambda f: f.path))

    def _list(self, item: FetchItem, key: str) -> list[_Object]:
        bucket = self._name
        if key and not key.endswith("/"):
            head = self._call(f"HeadObject s3://{bucket}/{key}", self._client.head_object, Key=key, missing_ok=True)
            if not isinstance(head, _Missing):
                return [_Object(key, posixpath.basename(key), int(head["ContentLength"]), head.get("ETag", ""))]
            missing = f"no object {key!r} in bucket {bucket!r} (HeadObject: S3 error {head.code}, HTTP {head.status})"
            prefix = f"{key}/"
        else:
            prefix, missing = key, ""
        objects = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call(f"ListObjectsV2 s3://{bucket}/{prefix}", self._client.list_objects_v2, **kwargs)
            for entry in page.get("Contents", []):
                relative = entry["Key"][len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue  # the prefix itself, or a "folder" placeholder object
                if matches(relative, item.allow_patterns, item.ignore_patterns):
                    objects.append(_Object(entry["Key"], relative, int(entry["Size"]), entry.get("ETag", "")))
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                break
        if not objects:
            where = f"no objects under s3://{bucket}/{prefix}"
            if item.allow_patterns or item.ignore_patterns:
                where += f" match allow_patterns={item.allow_patterns} ignore_patterns={item.ignore_patterns}"
            if missing:
                where = f"{missing}, and {where}"
            raise Failure(f"{where}; check the bucket, key and patterns", transient=False)
        return objects

    def _download(self, context: Context, obj: _Object) -> FileRecord:
        reusable = context.staging.reusable(obj.path, obj.size, obj.etag or None)
        if reusable is not None:
            context.progress.advance(obj.size)
            return reusable
        kwargs: dict[str, Any] = {"Key": obj.key}
        if obj.etag:
            kwargs["IfMatch"] = obj.etag  # the version we listed, or 412 and a fresh listing
        response = self._call(f"GetObject s3://{self._name}/{obj.key}", self._client.get_object, **kwargs)
        body = response["Body"]
        try:
            return context.staging.write(
                obj.path,
                self._chunks(body, obj.key),
                progress=context.progress,
                expected_size=int(response["ContentLength"]),
                size_source="S3's ContentLength",
                md5=md5_of_etag(response.get("ETag", ""), response),
                version=obj.etag or None,
            )
        finally:
            body.close()

    def _chunks(self, body: Any, key: str) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK_SIZE)
        except Exception as exc:  # botocore wraps urllib3's read errors (and checksum errors) in several types
            raise Failure(f"reading s3://{self._name}/{key} failed: {type(exc).__name__}: {exc}", transient=True) from None

    def _call(self, what: str, method: Any, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """Call one S3 API on this bucket, turning botocore's errors into a `Failure` naming the
        S3 error code; with ``missing_ok``, a 404 returns `_Missing` instead."""
        try:
            return method(Bucket=self._name, **kwargs)
        except self._exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "?"))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if missing_ok and (code in ("404", "NoSuchKey", "NotFound") or status == 404):
                return _Missing(code, status)
            message = error.get("Message") or ""
            detail = f"{what} failed: S3 error {code} (HTTP {status})" + (f": {message}" if message else "")
            transient = status >= 500 or status == 429 or code in _TRANSIENT_CODES
            if code == "NoSuchBucket":
                detail += f"; the bucket {self._name!r} does not exist at this endpoint"
            elif code in ("NoSuchKey", "404"):
                detail += f"; no object {kwargs.get('Key')!r} in bucket {self._name!r}"
            elif code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                detail += (
                    "; check the credentials in the item's secret and the bucket policy"
                    if self._signed
                    else "; the request was anonymous (the item names no secret): name a secret with credentials"
                )
            raise Failure(detail, transient=transient) from None
        except (self._exceptions.BotoCoreError, OSError) as exc:
            # Connection refused / reset / timed out, a read cut short: all worth another try.
            raise Failure(f"{what} failed: {type(exc).__name__}: {exc}", transient=True) from None


def _parse_credentials(value: str, secret_name: str) -> dict[str, str]:
    """The JSON credentials of an S3 secret; `Failure` naming the secret if malformed."""
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise Failure(
            f"the secret {secret_name!r} must hold a JSON object of strings: "
            '{"aws_access_key_id": ..., "aws_secret_access_key": ..., "aws_session_token": ... '
            '(optional), "region_name": ... (optional)}',
            transient=False,
        )
    unknown = sorted(set(data) - set(_CREDENTIAL_FIELDS))
    if unknown:
        raise Failure(
            f"the secret {secret_name!r} has unknown fields {unknown}; allowed: {list(_CREDENTIAL_FIELDS)}",
            transient=False,
        )
    if bool(data.get("aws_access_key_id")) != bool(data.get("aws_secret_access_key")):
        raise Failure(
            f"the secret {secret_name!r} must give both aws_access_key_id and aws_secret_access_key",
            transient=False,
        )
    return {k: v for k, v in data.items() if v}
