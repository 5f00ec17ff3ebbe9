"""``python -m infra_chains.fetch``: what the init container and docker run."""

import json
import pathlib
import subprocess
import sys

import pytest

from infra_chains.fetch import FetchItem
from infra_chains.fetch.cli import main
from tests.fetch.file_server import FileServer, Reply


def write_items(path: pathlib.Path, *items: FetchItem) -> pathlib.Path:
    path.write_text(json.dumps([item.model_dump(mode="json", exclude_defaults=True) for item in items]))
    return path


@pytest.mark.servers
def test_success_prints_one_line_per_item_and_exits_0(
    file_server: FileServer, cache: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    file_server.routes["/a.bin"] = [Reply(200, b"aaa")]
    weights = FetchItem(name="weights", kind="http", source=file_server.url("/a.bin"))
    items = write_items(tmp_path / "items.json", weights)
    done = subprocess.run(
        [sys.executable, "-m", "infra_chains.fetch", "--items", str(items), "--cache-root", str(cache)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"weights -> {cache / weights.cache_key() / 'a.bin'}\n"
    assert "asset weights: fetched 3 B of 3 B (100%)" in done.stderr


@pytest.mark.servers
def test_a_failed_item_exits_1_with_the_message_on_stderr(
    file_server: FileServer, cache: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = write_items(tmp_path / "items.json", FetchItem(name="weights", kind="http", source=file_server.url("/gone")))
    assert main(["--items", str(items), "--cache-root", str(cache)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"error: asset weights: GET {file_server.url('/gone')} answered HTTP 404 Not Found: check the URL" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the items file"),
        ("{}", "invalid items file"),
        ('[{"name": "x", "kind": "ftp", "source": "a"}]', "invalid items file"),
    ],
)
def test_a_bad_items_file_exits_2(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    items = tmp_path / "items.json"
    if content is not None:
        items.write_text(content)
    assert main(["--items", str(items), "--cache-root", str(tmp_path / "cache")]) == 2
    assert message in capsys.readouterr().err


def test_missing_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--items", "x.json"])
    assert caught.value.code == 2
    assert "--cache-root" in capsys.readouterr().err


def test_without_the_assets_extra_the_error_names_it(tmp_path: pathlib.Path) -> None:
    items = write_items(tmp_path / "items.json", FetchItem(name="w", kind="s3", source="s3://b/k"))
    # A child interpreter in which boto3 cannot be imported, as in an image without the extra.
    code = (
        "import sys; sys.modules['boto3'] = None; from infra_chains.fetch.cli import main; "
        f"sys.exit(main(['--items', {str(items)!r}, '--cache-root', {str(tmp_path / 'cache')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "asset w: Fetching the s3 asset s3://b/k needs the Python module 'boto3'" in done.stderr
    assert "pip install 'infra-chains[assets]'" in done.stderr
