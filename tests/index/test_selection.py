import pytest

from musiscene_core.errors import UserError
from musiscene_core.index.selection import ivf_nlist, parse_memory_size, plan_index


@pytest.mark.parametrize(
    "text, expected",
    [("4GB", 4_000_000_000), ("512MB", 512_000_000), ("2GiB", 2 * 2**30), ("1.5 gb", 1_500_000_000), ("1000", 1000), (64, 64)],
)
def test_memory_sizes_are_read_in_decimal_and_binary_units(text, expected):
    assert parse_memory_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "4 parsecs", "-1GB", ""])
def test_unreadable_memory_size_is_a_user_error(text):
    with pytest.raises(UserError, match="memory size"):
        parse_memory_size(text)


def test_small_collections_get_exact_search():
    assert plan_index(99_999, 384, 4 * 10**9).factory == "Flat"


def test_above_the_threshold_an_ivf_flat_index_is_planned_when_vectors_fit():
    plan = plan_index(1_000_000, 384, 4 * 10**9)
    assert plan.factory == "IVF4096,Flat"
    assert plan.nlist == 4096
    assert 1_000_000 * 384 * 4 < plan.estimated_bytes <= 4 * 10**9


def test_tighter_budgets_trade_precision_for_memory():
    rows, dim = 1_000_000, 384
    assert plan_index(rows, dim, 1 * 10**9).factory == "IVF4096,SQ8"
    pq = plan_index(rows, dim, 100 * 10**6)
    assert pq.factory == "IVF4096,PQ64np"  # 80 bytes per row with the IVF bookkeeping: 86 MB
    assert pq.estimated_bytes <= 100 * 10**6
    # The largest code that fits is chosen.
    assert plan_index(rows, dim, 150 * 10**6).factory == "IVF4096,PQ96np"


def test_flat_below_the_threshold_still_respects_the_budget():
    # 50k x 384 floats take 77 MB: under a 10 MB budget only product-quantized codes fit.
    plan = plan_index(50_000, 384, 10 * 10**6)
    assert plan.factory == "IVF1024,PQ128np"
    assert plan.estimated_bytes <= 10 * 10**6


def test_too_few_rows_to_train_product_quantizers_never_get_them():
    with pytest.raises(UserError, match="too small"):
        plan_index(5_000, 384, 1_000_000)
    assert plan_index(5_000, 384, 3_000_000).factory == "IVF128,SQ8"


def test_budget_too_small_for_any_index_is_a_user_error():
    with pytest.raises(UserError, match="too small"):
        plan_index(1_000_000, 384, 1_000_000)


def test_very_large_collections_use_an_hnsw_coarse_quantizer():
    assert plan_index(50_000_000, 384, 10**12).factory.startswith("IVF32768_HNSW32,")


def test_nlist_changes_only_after_fourfold_growth_and_keeps_enough_training_points():
    assert ivf_nlist(1_000_000) == 4096
    assert ivf_nlist(1_300_000) == 4096
    assert ivf_nlist(4_000_000) == 8192
    for rows in (100, 1000, 5000, 100_000):
        assert ivf_nlist(rows) * 39 <= rows
