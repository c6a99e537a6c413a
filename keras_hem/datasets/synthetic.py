"""Synthetic rating matrices with a known low-rank structure, for tests and demos."""

import numpy as np


def low_rank_ratings(
    n_items=200, n_users=150, rank=4, density=0.2, noise=0.3, scale=(1, 5), seed=0
):
    """An items x users matrix of integer ratings drawn from a low-rank model plus noise.

    Ratings are `round(clip(mu + b_i + b_u + <p_i, q_u> + noise))` on the integer `scale`; a
    random `density` share of the entries is observed, the rest are 0 (unobserved). Every item
    and every user gets at least one rating.

    Args:
        n_items: rows.
        n_users: columns.
        rank: rank of the interaction term.
        density: share of observed entries.
        noise: standard deviation of the Gaussian noise.
        scale: `(min, max)` integer rating scale.
        seed: random seed.

    Returns:
        float32 array of shape `(n_items, n_users)`, 0 where unobserved.

    Examples:
        >>> from keras_hem.datasets.synthetic import low_rank_ratings
        >>> r = low_rank_ratings(n_items=50, n_users=40, seed=1)
        >>> r.shape, float(r.max()) <= 5.0, float(r[r > 0].min()) >= 1.0
        ((50, 40), True, True)
    """
    rng = np.random.default_rng(seed)
    low, high = scale
    mu = (low + high) / 2 + 0.3
    p = rng.normal(0, 1 / np.sqrt(rank), (n_items, rank))
    q = rng.normal(0, 1 / np.sqrt(rank), (n_users, rank))
    dense = mu + rng.normal(0, 0.5, (n_items, 1)) + rng.normal(0, 0.3, (1, n_users)) + p @ q.T
    dense = np.clip(np.rint(dense + rng.normal(0, noise, dense.shape)), low, high)
    observed = rng.random(dense.shape) < density
    observed[np.arange(n_items), rng.integers(0, n_users, n_items)] = True
    observed[rng.integers(0, n_items, n_users), np.arange(n_users)] = True
    return np.where(observed, dense, 0.0).astype("float32")
