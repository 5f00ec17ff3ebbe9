"""Fixtures for the fetcher's tests: the other sides (an HTTP file server, moto's S3 server
behind a recording proxy, a fake hub), each on 127.0.0.1 and stopped afterwards."""

from __future__ import annotations

import json
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fetch.fake_hub import FakeHub
from tests.fetch.file_server import FileServer
from tests.fetch.s3_proxy import S3Proxy

#: The S3 secret's value in every test: moto accepts any key pair.
S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture
def cache(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "cache"


@pytest.fixture
def secrets_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A chainlet secrets directory holding ``s3-creds`` (JSON) and ``hf-token``."""
    directory = tmp_path / "secrets"
    directory.mkdir()
    (directory / "s3-creds").write_text(json.dumps(S3_CREDENTIALS))
    (directory / "hf-token").write_text("hf_secret_token\n")
    return directory


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    with FileServer() as server:
        yield server


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture(scope="session")
def moto_port() -> Iterator[int]:
    """moto's S3 server, once per session (its start-up imports most of moto)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield server.get_host_and_port()[1]
    server.stop()


@pytest.fixture
def s3(moto_port: int) -> Iterator[S3Proxy]:
    """The recording proxy in front of moto; point items' endpoint_url at ``s3.url``."""
    with S3Proxy(moto_port) as proxy:
        yield proxy


@pytest.fixture
def bucket(moto_port: int) -> Any:
    """A fresh bucket (moto's state lives for the session) as a boto3 ``Bucket``, talking to moto
    directly: the proxy records only what the fetcher does."""
    import boto3

    upstream = boto3.resource("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", **S3_CREDENTIALS)
    return upstream.create_bucket(Bucket=f"test-{uuid.uuid4().hex[:12]}")
