"""Exceptions across hops: trimmed frames, builtins as themselves, statuses kept."""

from __future__ import annotations

import pytest

import infra_chains as chains
from infra_chains.errors import RemoteChainletError, RemoteHTTPError
from infra_chains.serving import remote_errors


class CustomError(Exception):
    pass


def _raise(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return caught


def hop(exc: BaseException, name: str) -> Exception:
    """What the caller of chainlet ``name`` sees when it raised ``exc``."""
    detail = remote_errors.detail_from_exception(exc, name)
    return remote_errors.exception_from_response(
        detail.status_code, remote_errors.error_body(detail), chainlet=name, url=f"http://{name}/run_remote"
    )


def test_builtin_errors_are_reraised_as_their_type_with_the_traceback() -> None:
    error = hop(_raise(ValueError("bad value")), "Leaf")
    assert type(error) is ValueError
    text = str(error)
    assert text.startswith("(remote chainlet `Leaf`)") and "in _raise" in text
    assert text.rstrip().endswith("ValueError: bad value")
    assert error.__infra_chains_detail__.remote_name == "Leaf"  # type: ignore[attr-defined]


def test_key_error_reads_well() -> None:
    error = hop(_raise(KeyError("k")), "Leaf")
    assert isinstance(error, KeyError) and "\n" in str(error) and "KeyError: 'k'" in str(error)


def test_custom_errors_become_remote_chainlet_error_naming_the_class() -> None:
    error = hop(_raise(CustomError("oops")), "Leaf")
    assert isinstance(error, RemoteChainletError)
    assert f"{__name__}.CustomError: oops" in str(error)
    assert error.chainlet == "Leaf" and error.detail.exception_cls_name == "CustomError"


def test_three_hops_show_three_tracebacks_root_last() -> None:
    leaf = hop(_raise(ZeroDivisionError("root cause")), "Leaf")
    mid = hop(_raise(leaf), "Mid")
    entry = hop(_raise(mid), "Entry")
    assert type(entry) is ZeroDivisionError
    text = str(entry)
    positions = [text.index(f"remote chainlet `{name}`") for name in ("Entry", "Mid", "Leaf")]
    assert positions == sorted(positions)
    assert text.rstrip().endswith("ZeroDivisionError: root cause")


def test_http_exception_keeps_its_status_across_hops() -> None:
    leaf = hop(_raise(chains.HTTPException(422, "no such thing")), "Leaf")
    assert isinstance(leaf, RemoteHTTPError) and leaf.status_code == 422
    mid = hop(_raise(leaf), "Mid")
    assert isinstance(mid, RemoteHTTPError) and mid.status_code == 422
    assert "no such thing" in str(mid)


def test_fastapis_http_exception_keeps_its_status_too() -> None:
    class HTTPException(Exception):  # the shape of fastapi's (starlette's), without fastapi
        def __init__(self, status_code: int, detail: str) -> None:
            super().__init__(detail)
            self.status_code = status_code

    class NotFound(HTTPException):
        pass

    for raised, status in ((HTTPException(422, "bad"), 422), (NotFound(404, "gone"), 404)):
        error = hop(_raise(raised), "Leaf")
        assert isinstance(error, RemoteHTTPError) and error.status_code == status
    assert remote_errors.status_of(HTTPException(200, "a success is no error status")) == 500


def test_http_exception_checks_the_status() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        chains.HTTPException(200, "fine")


def test_framework_frames_are_trimmed() -> None:
    detail = remote_errors.detail_from_exception(_raise(ValueError("x")), "Leaf")
    assert all("infra_chains" not in f.filename for f in detail.user_stack_trace)
    assert [f.name for f in detail.user_stack_trace] == ["_raise"]


def test_non_json_error_bodies_name_chainlet_status_and_url() -> None:
    error = remote_errors.exception_from_response(502, b"<html>bad gateway</html>", chainlet="Mid",
                                                  url="http://mid/run_remote", attempts=3)
    assert isinstance(error, RemoteHTTPError) and error.status_code == 502
    assert "`Mid` at http://mid/run_remote answered HTTP 502 after 3 attempts" in str(error)
