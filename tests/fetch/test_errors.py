import pickle

from infra_chains.errors import ChainsError
from infra_chains.fetch import AssetFetchError


def test_the_message_names_the_item_and_pickles_whole() -> None:
    error = AssetFetchError("ModelRepo 'org/m'", "GET https://x answered HTTP 404")
    assert str(error) == "asset ModelRepo 'org/m': GET https://x answered HTTP 404"
    assert isinstance(error, ChainsError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.item, copy.detail, str(copy)) == (error.item, error.detail, str(error))
