"""`TripletLoss.from_tfa` against TensorFlow Addons' triplet losses.

The references below are NumPy loops written from the definitions in TensorFlow Addons'
`tensorflow_addons/losses/tests/triplet_test.py` (`triplet_hard_loss_np`,
`triplet_semihard_loss_np`, `pairwise_distance_np`, `angular_distance_np`), extended to the
cases those loops leave out but `tensorflow_addons/losses/triplet.py` defines through its
masked minimum / maximum: an anchor without a negative, and the distance names of its last
release ("L2", "squared-L2", "angular", or a callable).
"""

import keras
import numpy as np
import pytest
from backend import BACKEND, value_and_gradient, xla

from keras_hem.losses import TripletLoss
from keras_hem.mining import TripletHardMiner, pairwise_distances


@keras.saving.register_keras_serializable(package="keras_hem_tests")
def manhattan(embeddings):
    """A custom distance, as TFA's `distance_metric=callable` allowed."""
    return keras.ops.sum(keras.ops.abs(embeddings[:, None, :] - embeddings[None, :, :]), axis=-1)


METRICS = ("L2", "squared-L2", "angular", manhattan)


def tfa_distances_np(x, metric):
    """TFA's distance matrix, by loops, in float64."""
    n = len(x)
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i == j:
                continue  # TFA zeroes the diagonal (angular: 1 - |u|^2 clipped, i.e. ~0)
            if metric == "L2":
                d[i, j] = np.linalg.norm(x[i] - x[j])
            elif metric == "squared-L2":
                d[i, j] = np.sum((x[i] - x[j]) ** 2)
            elif metric == "angular":
                u, v = x[i] / np.linalg.norm(x[i]), x[j] / np.linalg.norm(x[j])
                d[i, j] = max(1.0 - u @ v, 0.0)
            else:
                d[i, j] = np.sum(np.abs(x[i] - x[j]))
    return d


def tfa_hard_np(labels, d, margin, soft):
    """TFA's `triplet_hard_loss` on the distance matrix `d`."""
    n, total = len(labels), 0.0
    for i in range(n):
        positives = [d[i, j] for j in range(n) if labels[j] == labels[i] and j != i]
        negatives = [d[i, j] for j in range(n) if labels[j] != labels[i]]
        # TFA's masked maximum / minimum over an empty mask give the row's min / max.
        hardest_positive = max(positives) if positives else min(d[i])
        hardest_negative = min(negatives) if negatives else max(d[i])
        gap = hardest_positive - hardest_negative
        total += np.log1p(np.exp(gap)) if soft else max(gap + margin, 0.0)
    return total / n


def tfa_semi_hard_np(labels, d, margin):
    """TFA's `triplet_semihard_loss` on `d`; 0 where TFA gives 0/0 (no positive pair)."""
    n, total, n_positives = len(labels), 0.0, 0
    for i in range(n):
        negatives = sorted(d[i, k] for k in range(n) if labels[k] != labels[i])
        for j in range(n):
            if labels[j] != labels[i] or j == i:
                continue
            n_positives += 1
            farther = [x for x in negatives if x > d[i, j]]
            if farther:
                chosen = farther[0]  # the closest negative farther than the positive
            elif negatives:
                chosen = negatives[-1]  # else the farthest negative
            else:
                chosen = min(d[i])  # masked maximum over no negatives: the row's minimum
            total += max(margin - chosen + d[i, j], 0.0)
    return total / n_positives if n_positives else 0.0


def random_case(seed, kind):
    """One random TFA configuration: batch, labels (some anchors alone), distance, margin.

    Embeddings have at least 2 dimensions: in 1-D every angular distance is 0 or 2, and
    float32 rounding of those ties decides the semi-hard choice.
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 20))
    labels = rng.integers(0, int(rng.integers(1, 7)), n)
    x = (rng.normal(size=(n, int(rng.integers(2, 8)))) * rng.choice([0.3, 1.0, 3.0])).astype(
        rng.choice(["float32", "float16"])
    )
    return {
        "x": x,
        "labels": labels.reshape(-1, 1) if rng.random() < 0.5 else labels,
        "metric": METRICS[int(rng.integers(len(METRICS)))],
        "margin": float(rng.choice([0.0, 0.2, 1.0, 3.0])),
        "soft": kind == "hard" and bool(rng.random() < 0.5),
    }


def reference(case, kind):
    labels = case["labels"].reshape(-1)
    d = tfa_distances_np(case["x"].astype("float64"), case["metric"])
    if kind == "hard":
        return tfa_hard_np(labels, d, case["margin"], case["soft"])
    return tfa_semi_hard_np(labels, d, case["margin"])


def tfa_loss(case, kind):
    return TripletLoss.from_tfa(kind, case["margin"], case["soft"], case["metric"])


# The cases check the semantics (TFA's), which do not depend on the backend; JAX compiles each
# new shape eagerly, so its pass runs the first third of them.
REFERENCE_CASES = 120 if BACKEND == "tensorflow" else 40


@pytest.mark.parametrize("kind", ["hard", "semi_hard"])
@pytest.mark.parametrize("seed", range(REFERENCE_CASES))
def test_matches_tfa_reference(seed, kind):
    case = random_case(seed, kind)
    value = float(tfa_loss(case, kind)(case["labels"], case["x"]))
    np.testing.assert_allclose(value, reference(case, kind), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("kind", ["hard", "semi_hard"])
@pytest.mark.parametrize("seed", range(6))
def test_compiled_matches_eager(seed, kind):
    case = random_case(1000 + seed, kind)
    loss = tfa_loss(case, kind)
    compiled = xla(lambda y, x: loss(y, x))
    eager = float(loss(case["labels"], case["x"]))
    np.testing.assert_allclose(float(compiled(case["labels"], case["x"])), eager, rtol=1e-5)
    np.testing.assert_allclose(eager, reference(case, kind), rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("kind", ["hard", "semi_hard"])
@pytest.mark.parametrize("metric", ["L2", "squared-L2", "angular", manhattan])
def test_gradient_matches_finite_differences_of_reference(kind, metric):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(10, 3))
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 3, 3])  # margin 2: most triplets are active
    loss = TripletLoss.from_tfa(kind, margin=2.0, distance_metric=metric)
    _, grad = value_and_gradient(lambda e: loss(labels, e), x.astype("float32"))

    def f(e):
        d = tfa_distances_np(e, metric)
        if kind == "hard":
            return tfa_hard_np(labels, d, 2.0, False)
        return tfa_semi_hard_np(labels, d, 2.0)

    eps, numeric = 1e-5, np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = (f(x + step) - f(x - step)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, atol=2e-3)


def test_anchor_without_positive_keeps_tfa_stand_in():
    # Squared distances: d01 = 1, d02 = 9, d12 = 4. Anchor 2 has no positive: TFA keeps it
    # with d_ap = 0 (its row minimum), so the loss is (0 + 3 + 2) / 3; the library's
    # batch-hard mining drops that anchor and averages the other two: (0 + 3) / 2.
    x, labels = np.array([[0.0], [1.0], [3.0]], "float32"), np.array([0, 0, 1])
    tfa = TripletLoss.from_tfa("hard", margin=6.0, distance_metric="squared-L2")
    library = TripletLoss(margin=6.0, distance="squared_l2")
    assert float(tfa(labels, x)) == pytest.approx(5 / 3)
    assert float(library(labels, x)) == pytest.approx(3 / 2)


def test_semi_hard_choice_ignores_margin_and_falls_back_to_farthest():
    # Anchor 0: positive 1 at distance 1, negatives at 1.5 and 9. TFA takes 1.5 (the closest
    # farther one) though 1.5 > d_ap + margin. Anchor 1: positive at 20, negatives at 10 and
    # 12; none is farther, so TFA takes the farthest, sample 3.
    d = np.array([[0, 1, 1.5, 9], [20, 0, 10, 12], [1.5, 10, 0, 5], [9, 12, 5, 0]], "f4")
    miner = TripletHardMiner(0.1, strategy="tfa_semi_hard")
    anchors, positives, negatives, valid = (
        keras.ops.convert_to_numpy(t) for t in miner.mine(d, np.array([0, 0, 1, 1]))
    )
    chosen = {(a, p): n for a, p, n, v in zip(anchors, positives, negatives, valid) if v}
    assert chosen[(0, 1)] == 2
    assert chosen[(1, 0)] == 3
    assert sorted(chosen) == [(0, 1), (1, 0), (2, 3), (3, 2)]


def test_no_positive_pair_gives_zero_not_nan():
    x, labels = np.eye(3, dtype="float32"), np.array([0, 1, 2])
    assert float(TripletLoss.from_tfa("semi_hard")(labels, x)) == 0.0


def test_soft_margin_stays_finite_where_log1p_exp_overflows():
    x, labels = np.array([[0.0], [100.0], [0.0]], "float32"), np.array([0, 0, 1])
    value = float(TripletLoss.from_tfa("hard", soft=True, distance_metric="squared-L2")(labels, x))
    # Anchor 0: softplus(10000 - 0); anchor 1: softplus(10000 - 10000); anchor 2 (no
    # positive, d_ap = 0): softplus(0 - 0).
    assert value == pytest.approx((10000 + 2 * np.log(2)) / 3, rel=1e-6)
    with np.errstate(over="ignore"):
        assert np.isinf(np.log1p(np.exp(np.float32(10000))))  # what TFA computes


def test_defaults_follow_tfa():
    loss = TripletLoss.from_tfa()
    assert (loss.distance, loss.miner.strategy, loss.margin, loss.soft) == (
        "l2",
        "tfa_hard",
        1.0,
        False,
    )
    assert loss.name == "tfa_triplet_hard_loss"


def test_custom_distance_in_miner_and_loss_agree_with_named():
    rng = np.random.default_rng(3)
    x, labels = rng.normal(size=(12, 4)).astype("float32"), rng.integers(0, 3, 12)

    def squared(e):
        return pairwise_distances(e, "squared_l2")

    for strategy in ["batch_hard", "semi_hard", "tfa_hard", "tfa_semi_hard"]:
        named = TripletLoss(1.0, "squared_l2", TripletHardMiner(1.0, strategy, "squared_l2"))
        custom = TripletLoss(1.0, squared, TripletHardMiner(1.0, strategy, squared))
        assert float(custom(labels, x)) == pytest.approx(float(named(labels, x)), rel=1e-6)


def test_save_load_round_trip_with_custom_distance(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.integers(0, 3, 32)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    loss = TripletLoss.from_tfa("semi_hard", margin=0.5, distance_metric=manhattan)
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.loss.distance is manhattan and loaded.loss.miner.distance is manhattan
    assert loaded.loss.get_config() == loss.get_config()
    miner = TripletHardMiner.from_config(loss.miner.get_config())
    assert miner.strategy == "tfa_semi_hard" and miner.distance is manhattan
    np.testing.assert_allclose(
        loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6
    )


def test_unregistered_custom_distance_cannot_be_saved():
    def unregistered(e):
        return pairwise_distances(e, "l2")

    loss = TripletLoss(distance=unregistered)
    with pytest.raises(ValueError, match="register it with"):
        loss.get_config()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "hardest"}, "kind='hardest'"),
        ({"distance_metric": "L_2"}, "distance_metric='L_2'"),
        ({"kind": "semi_hard", "soft": True}, "soft=True"),
        ({"margin": -1.0}, "margin=-1.0"),
    ],
)
def test_from_tfa_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TripletLoss.from_tfa(**kwargs)


def test_rejects_bad_custom_distances():
    with pytest.raises(ValueError, match="distance=3"):
        TripletHardMiner(distance=3)
    x = np.ones((4, 2), "float32")
    with pytest.raises(ValueError, match=r"returned shape \(4,\)"):
        TripletLoss(distance=lambda e: keras.ops.sum(e, axis=1))(np.arange(4), x)
