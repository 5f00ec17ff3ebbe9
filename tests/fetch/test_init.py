import json
import subprocess
import sys

import infra_chains.fetch as fetch


def test_all_is_sorted_and_defined() -> None:
    assert fetch.__all__ == sorted(fetch.__all__)
    assert all(hasattr(fetch, name) for name in fetch.__all__)


def test_importing_the_fetcher_loads_no_source_library() -> None:
    # A chainlet image without the assets extra, or with only http items, must import cleanly.
    code = "import json, sys; import infra_chains.fetch, infra_chains.fetch.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    heavy = ("boto3", "botocore", "huggingface_hub", "httpx")
    assert [m for m in loaded if m.split(".")[0] in heavy] == []
