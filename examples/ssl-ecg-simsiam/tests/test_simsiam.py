"""The plugin's own test: ssl-ecg's conformance kit, run on the objective found through its
entry point (so it also proves that `pip install` registered it)."""

from ssl_ecg.testing import check_objective


def test_simsiam_conforms() -> None:
    assert check_objective("simsiam") is not None  # None: it refused the kit's encoder
    assert check_objective("simsiam", {"out_dim": 16}) is not None
