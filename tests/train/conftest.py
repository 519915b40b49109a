import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture(scope="session")
def synthetic_catalog(tmp_path_factory):
    """30 short synthetic pieces (18 train, 6 validation, 6 test) and a dataset file of {uri, answer, split} rows pointing at them."""
    from musiscene_core.data.synthetic import make_catalog

    root = tmp_path_factory.mktemp("catalog")
    pieces = make_catalog(root / "audio", n=30, seed=1, formats=("wav",), duration_s=1.5)
    data = root / "data.parquet"
    pq.write_table(
        pa.table(
            {"uri": [str(p.path) for p in pieces], "answer": [p.caption for p in pieces], "split": [p.split for p in pieces]}
        ),
        data,
    )
    return data


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny models' matrices are too small for threads to pay, and threads contend with Ray's workers."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
