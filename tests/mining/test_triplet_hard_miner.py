import keras
import numpy as np
import pytest
from backend import BACKEND, xla
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from reference import all_triplets, distance_matrix

from keras_hem.mining import TripletHardMiner, pairwise_distances

DISTANCES = ["squared_l2", "l2", "cosine"]

# Tiny nonzero coordinates only test float32 underflow, which the reference does not model.
coordinates = st.floats(-3, 3, width=32).map(lambda v: 0.0 if abs(v) < 1e-3 else v)
batches = st.integers(2, 12).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float32, (n, 3), elements=coordinates),
        hnp.arrays(np.int32, (n,), elements=st.integers(0, 3)),
    )
)


def np_(x):
    return keras.ops.convert_to_numpy(x)


@given(batch=batches, distance=st.sampled_from(DISTANCES))
def test_pairwise_distances_match_reference(batch, distance):
    x, _ = batch
    np.testing.assert_allclose(
        np_(pairwise_distances(x, distance)), distance_matrix(x, distance), atol=2e-4, rtol=1e-4
    )


def brute_force(d, labels, strategy, margin):
    """Per-strategy expected output as {(anchor, positive or None): best negative distance}."""
    triplets = all_triplets(labels)
    expected = {}
    if strategy == "batch_hard":
        for a in {t[0] for t in triplets}:
            d_ap = max(d[a, p] for (a2, p, _) in triplets if a2 == a)
            d_an = min(d[a, q] for (a2, _, q) in triplets if a2 == a)
            expected[(a, None)] = (d_ap, d_an)
    elif strategy == "semi_hard":
        for a, p in {t[:2] for t in triplets}:
            negs = [d[a, q] for (a2, p2, q) in triplets if (a2, p2) == (a, p)]
            band = [x for x in negs if d[a, p] < x < d[a, p] + margin]
            expected[(a, p)] = (d[a, p], min(band) if band else min(negs))
    else:
        for a, p, q in triplets:
            if d[a, p] - d[a, q] + margin > 0:
                expected[(a, p, q)] = (d[a, p], d[a, q])
    return expected


@given(
    batch=batches,
    strategy=st.sampled_from(["batch_hard", "semi_hard", "all"]),
    distance=st.sampled_from(DISTANCES),
    margin=st.sampled_from([0.0, 0.2, 1.0, 2.5]),
)
def test_miner_matches_brute_force(batch, strategy, distance, margin):
    x, labels = batch
    # Mine on our float32 matrix so that the reference decides ties exactly as we do.
    d = np_(pairwise_distances(x, distance)).astype(np.float64)
    miner = TripletHardMiner(margin=margin, strategy=strategy, distance=distance)
    a, p, n, valid = (np_(t) for t in miner(x, labels))
    assert (
        len(a)
        == len(p)
        == len(n)
        == len(valid)
        == {"batch_hard": len(x), "semi_hard": len(x) ** 2, "all": len(x) ** 3}[strategy]
    )
    expected = brute_force(d, labels, strategy, margin)
    got = {}
    for ai, pi, ni in zip(a[valid], p[valid], n[valid]):
        assert labels[ai] == labels[pi] and ai != pi and labels[ni] != labels[ai]
        key = {"batch_hard": (ai, None), "semi_hard": (ai, pi), "all": (ai, pi, ni)}[strategy]
        got[key] = (d[ai, pi], d[ai, ni])
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-6)


def test_semi_hard_hand_worked():
    x = np.array([[0.0], [1.0], [1.5], [3.0], [10.0]], "float32")
    labels = np.array([0, 0, 1, 1, 1])
    a, p, n, valid = (np_(t) for t in TripletHardMiner(1.5, "semi_hard", "l2")(x, labels))
    pairs = {(ai, pi): ni for ai, pi, ni in zip(a[valid], p[valid], n[valid])}
    assert pairs[(0, 1)] == 2  # d_ap = 1; negatives at 1.5 (in band), 3 and 10
    assert pairs[(1, 0)] == 3  # d_ap = 1; 1.5 is at 0.5 (not farther), 3.0 at 2.0 is in band
    assert pairs[(2, 3)] == 1  # band (1.5, 3.0): 0 is at 1.5 (not >), 1 is at 0.5: hardest = 1


def test_anchors_without_positive_or_negative_are_masked():
    x = np.random.rand(4, 2).astype("float32")
    _, _, _, valid = TripletHardMiner()(x, np.array([0, 1, 1, 1]))
    np.testing.assert_array_equal(np_(valid), [False, True, True, True])
    _, _, _, valid = TripletHardMiner()(x, np.array([2, 2, 2, 2]))
    assert not np_(valid).any()


def test_max_triplets_keeps_the_most_violating():
    rng = np.random.default_rng(1)
    x, labels = rng.normal(size=(6, 2)).astype("float32"), np.array([0, 0, 0, 1, 1, 1])
    d = np_(pairwise_distances(x))
    a, p, n, valid = (np_(t) for t in TripletHardMiner(5.0, "all", max_triplets=10)(x, labels))
    assert len(a) == 10 and valid.all()
    violations = sorted(
        (d[i, j] - d[i, k] + 5.0 for i, j, k in all_triplets(labels)), reverse=True
    )[:10]
    np.testing.assert_allclose(sorted(d[a, p] - d[a, n] + 5.0, reverse=True), violations, 1e-5)


@pytest.mark.parametrize("strategy", ["batch_hard", "semi_hard", "all"])
def test_compiles_with_xla(strategy):
    miner = TripletHardMiner(strategy=strategy)
    x, labels = np.random.rand(8, 3).astype("float32"), np.arange(8) % 3
    compiled = xla(lambda e, y: miner(e, y))
    # The batch size is unknown when Keras retraces a step for a short last batch.
    dynamic = compiled
    if BACKEND == "tensorflow":
        dynamic = xla(lambda e, y: miner(e, y), [((3,), "float32"), ((), "int64")])
    for got, want, unknown in zip(compiled(x, labels), miner(x, labels), dynamic(x, labels)):
        np.testing.assert_array_equal(np_(got), np_(want))
        np.testing.assert_array_equal(np_(unknown), np_(want))


def test_float32_distances_for_half_inputs():
    d = pairwise_distances(keras.ops.cast(np.random.rand(4, 3), "float16"), "l2")
    assert keras.backend.standardize_dtype(d.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "hardest"}, "strategy='hardest'"),
        ({"distance": "manhattan"}, "distance='manhattan'"),
        ({"margin": -1.0}, "margin=-1.0"),
        ({"max_triplets": 5}, "strategy='batch_hard'"),
        ({"strategy": "all", "max_triplets": 0}, "max_triplets=0"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TripletHardMiner(**kwargs)


def test_config_round_trip():
    miner = TripletHardMiner(0.3, "all", "cosine", max_triplets=7)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(miner))
    assert isinstance(clone, TripletHardMiner) and clone.get_config() == miner.get_config()
