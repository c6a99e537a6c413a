"""Synthetic ratings with a known low-rank structure, for tests, demos and benchmarks.

* `low_rank_ratings`: a small dense items x users matrix (every entry is drawn, then a share is
  kept), for unit tests and demos.
* `sparse_ratings`: MovieLens-shaped sparse ratings (skewed item popularity and user activity,
  half-star ratings) at any size up to and beyond ML-25M, built without a dense matrix. `SHAPES`
  holds the (users, items, ratings) sizes of the MovieLens sets for scale benchmarks.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from keras_hem.arguments import check_integer

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp


def low_rank_ratings(
    n_items: int = 200,
    n_users: int = 150,
    rank: int = 4,
    density: float = 0.2,
    noise: float = 0.3,
    scale: tuple[int, int] = (1, 5),
    seed: int = 0,
) -> np.ndarray:
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


SHAPES = {
    "ml-1m": (6040, 3706, 1_000_209),
    "ml-10m": (69_878, 10_677, 10_000_054),
    "ml-25m": (162_541, 59_047, 25_000_095),
}
"""`(n_users, n_items, n_ratings)` of MovieLens sets: `sparse_ratings(*SHAPES["ml-25m"])`."""

# Pairs (or ratings) handled per vectorised step. Fixed, so that the output depends only on the
# arguments and the seed, and the temporaries stay small (a few times 8 MiB).
_CHUNK = 1 << 20
# Below this share of fresh pairs per draw, popularity sampling stops and the rest is filled by
# a method that cannot stall (see `_fill_rest`).
_MIN_YIELD = 0.25


def _check_real(name, value, low=0.0):
    """`value` as a float, or `ValueError` unless it is a finite real number >= `low`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or value < low
    ):
        raise ValueError(f"`{name}` must be a finite number >= {low}, got {name}={value!r}.")
    return float(value)


def _check_grid(scale, step):
    """`(low, high, step, n_steps)` of a rating grid, or `ValueError` naming the bad value."""
    try:
        low, high = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise ValueError(f"`scale` must be a pair (min, max), got scale={scale!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low < high):
        raise ValueError(
            f"`scale` must be (min, max) with 0 < min < max (0 marks an unobserved entry), got "
            f"scale={scale!r}."
        )
    step = _check_real("step", step)
    n_steps = round((high - low) / step) if step > 0 else 0
    if step <= 0 or n_steps < 1 or abs(n_steps * step - (high - low)) > 1e-9 * (high - low):
        raise ValueError(
            f"`step` must be > 0 and divide max - min = {high - low:g} of scale={scale!r} into "
            f"whole steps, got step={step!r}."
        )
    return low, high, step, n_steps


def _probabilities(log_weights):
    """Probabilities (float64, summing to 1) of weights given by their logarithms."""
    weights = np.exp(log_weights - log_weights.max())
    return weights / weights.sum()


def _draw_keys(rng, item_p, user_p, size):
    """`size` pair keys `item * n_users + user`, item and user drawn independently.

    Each chunk draws how often each item and each user occurs (two multinomials), lists them,
    and shuffles the users: the same distribution as independent draws, but much faster than
    inverse-CDF sampling (no random-access binary searches) and shuffling only cache-sized
    blocks.
    """
    n_items, n_users = len(item_p), len(user_p)
    item_ids = np.arange(n_items, dtype=np.int64)
    user_ids = np.arange(n_users, dtype=np.int64)
    keys = np.empty(size, dtype=np.int64)
    for start in range(0, size, _CHUNK):
        stop = min(size, start + _CHUNK)
        chunk = keys[start:stop]
        chunk[:] = np.repeat(item_ids, rng.multinomial(stop - start, item_p))
        chunk *= n_users
        users = np.repeat(user_ids, rng.multinomial(stop - start, user_p))
        rng.shuffle(users)
        chunk += users
    return keys


def _sorted_unique(keys):
    """The distinct values of `keys`, sorted (a sort and a comparison; faster than np.unique)."""
    keys = np.sort(keys)
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _contains(sorted_keys, values):
    """Boolean mask: which `values` occur in the sorted array `sorted_keys`."""
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    where = np.searchsorted(sorted_keys, values)
    np.minimum(where, len(sorted_keys) - 1, out=where)
    return sorted_keys[where] == values


def _merge(sorted_keys, new_keys):
    """Union of two sorted arrays of distinct keys that share none, sorted."""
    # Timsort ("stable") merges the two sorted runs in linear time.
    return np.sort(np.concatenate([sorted_keys, new_keys]), kind="stable")


def _covering_keys(rng, item_p, user_p):
    """`max(n_items, n_users)` distinct pair keys in which every item and every user occurs."""
    size = max(len(item_p), len(user_p))

    def cover(p):
        # Every id once; on the smaller side the remaining ids are drawn by popularity.
        ids = np.concatenate([np.arange(len(p)), rng.choice(len(p), size - len(p), p=p)])
        return rng.permutation(ids)

    # The larger side is a permutation, so the pairs are distinct.
    items = cover(item_p)
    return np.sort(items * np.int64(len(user_p)) + cover(user_p))


def _fill_rest(rng, keys, item_p, user_p, need):
    """Add `need` fresh keys when popularity sampling has become too slow (a near-dense matrix).

    Small products: every free pair is listed and `need` of them are drawn without replacement
    with probability proportional to item popularity x user activity (an exponential race).
    Large products (more than 4 x n_ratings pairs): the matrix is then less than a quarter full,
    so uniform draws stay at least 3/4 fresh.
    """
    n_users = len(user_p)
    total = len(item_p) * n_users
    n_ratings = len(keys) + need
    if total <= 4 * n_ratings + (1 << 22):
        free = np.ones(total, dtype=bool)
        free[keys] = False
        free = np.flatnonzero(free)
        weight = item_p[free // n_users] * user_p[free % n_users]
        with np.errstate(divide="ignore"):
            race = rng.exponential(size=len(free)) / weight
        chosen = free[np.argpartition(race, need - 1)[:need]] if need < len(free) else free
        return _merge(keys, np.sort(chosen))
    while need > 0:
        fresh = _sorted_unique(rng.integers(0, total, size=min(2 * need + 64, 4 * _CHUNK)))
        fresh = fresh[~_contains(keys, fresh)]
        if len(fresh) > need:
            fresh = np.sort(rng.choice(fresh, need, replace=False))
        keys = _merge(keys, fresh)
        need -= len(fresh)
    return keys


def _sample_keys(rng, item_p, user_p, n_ratings):
    """Exactly `n_ratings` distinct sorted pair keys `item * n_users + user`."""
    if n_ratings >= max(len(item_p), len(user_p)):
        keys = _covering_keys(rng, item_p, user_p)
    else:
        keys = np.empty(0, dtype=np.int64)
    fresh_share, margin = 1.0, 1.0
    while len(keys) < n_ratings:
        need = n_ratings - len(keys)
        if fresh_share < _MIN_YIELD:
            return _fill_rest(rng, keys, item_p, user_p, need)
        # The first draw aims just below `need` (no costly subsampling of a big surplus); the
        # later ones draw 10% more than the last fresh share predicts.
        size = min(int(need / fresh_share * margin) + 64, 2 * n_ratings + 64)
        fresh = _sorted_unique(_draw_keys(rng, item_p, user_p, size))
        fresh = fresh[~_contains(keys, fresh)]
        fresh_share, margin = len(fresh) / size, 1.1
        if len(fresh) > need:
            # A uniform subset of the fresh pairs, so the last draw is not biased to low keys.
            fresh = np.sort(rng.choice(fresh, need, replace=False))
        keys = _merge(keys, fresh)
    return keys


def _grid_ratings(rng, items, users, shape, grid, rank, noise):
    """float32 ratings of the pairs from a low-rank model, rounded to the grid and clipped."""
    n_items, n_users = shape
    low, high, step, n_steps = grid
    unit = (high - low) / 4  # one star on a 1..5 scale
    mu = low + (high - low) * 0.68
    item_bias = rng.normal(0, 0.45 * unit, n_items).astype(np.float32)
    user_bias = rng.normal(0, 0.35 * unit, n_users).astype(np.float32)
    # Entries of sd s give a dot product of sd s^2 sqrt(rank) = 0.45 unit.
    s = np.sqrt(0.45 * unit / np.sqrt(rank)) if rank else 0.0
    p = rng.normal(0, s, (n_items, rank)).astype(np.float32)
    q = rng.normal(0, s, (n_users, rank)).astype(np.float32)
    out = np.empty(len(items), dtype=np.float32)
    for start in range(0, len(items), _CHUNK):
        stop = min(len(items), start + _CHUNK)
        i, u = items[start:stop], users[start:stop]
        x = item_bias[i] + user_bias[u]
        if rank:
            x += np.einsum("ij,ij->i", p[i], q[u])
        x += np.float32(noise) * rng.standard_normal(stop - start, dtype=np.float32)
        level = np.clip(np.rint((x + np.float32(mu - low)) / np.float32(step)), 0, n_steps)
        out[start:stop] = low + step * level.astype(np.float64)
    return out


def sparse_ratings(
    n_users: int,
    n_items: int,
    n_ratings: int,
    scale: tuple[float, float] = (0.5, 5.0),
    step: float = 0.5,
    *,
    rank: int = 5,
    noise: float = 0.7,
    item_exponent: float = 1.5,
    item_offset: float = 0.05,
    user_sigma: float = 1.2,
    seed: int = 0,
    as_frame: bool = False,
) -> sp.csr_array | pd.DataFrame:
    """MovieLens-shaped sparse ratings of any size, without ever building a dense matrix.

    Which pairs are rated: item popularity follows a Zipf-Mandelbrot law, the item of
    popularity rank `r` (1 = most popular; ranks are assigned to item ids at random) having
    weight `(r + item_offset * n_items) ** -item_exponent`; user activity is log-normal, weight
    `exp(user_sigma * z)` with `z` standard normal. Pairs are drawn from the product of the two
    distributions in vectorised chunks, repeated pairs are dropped (sorting the int64 keys
    `item * n_users + user`) and the shortfall is drawn again until exactly `n_ratings`
    distinct pairs remain (should the draws stall, as in a nearly full matrix with extreme
    exponents, the rest is drawn among the free pairs directly). When
    `n_ratings >= max(n_users, n_items)`, a first set of `max(n_users, n_items)` pairs gives
    every user and every item at least one rating. Because a pair is rated at most once, the
    most popular items and the most active users saturate, as in real data. The defaults
    (`item_exponent=1.5`, `item_offset=0.05`, `user_sigma=1.2`) were chosen so that the ML-1M
    shape (`SHAPES["ml-1m"]`) comes close to ML-1M's statistics: median item 118 ratings
    (ML-1M: 123), top 10% of items 46% of the ratings (44%), median user 97 (96), top 10% of
    users 38% (38%). Unlike MovieLens, no minimum of 20 ratings per user is enforced.

    Rating values: `mu + b_item + b_user + <p_item, q_user> + noise`, rounded to the grid
    `scale[0] + j * step` and clipped to `scale`. With a "star" being a quarter of
    `max - min`, `mu` is 68% of the way up the scale, the item and user biases have sd 0.45
    and 0.35 stars, the `rank`-dimensional factors give a dot product of sd 0.45 stars, and the
    Gaussian noise has sd `noise` (in rating units); all are drawn from `seed`. On the default
    scale this gives a mean near 3.5 and a standard deviation near 1.0 (ML-1M: 3.58 and 1.12).

    Memory is O(n_ratings + n_users + n_items) and the work is vectorised: the ML-25M shape
    (25 million ratings) peaks at about 0.6 GB above the interpreter and takes about 10 to 15 s
    on one core.

    Args:
        n_users: number of users (columns of the matrix), >= 1.
        n_items: number of items (rows of the matrix), >= 1.
        n_ratings: number of distinct rated (item, user) pairs, 1 <= n_ratings <=
            n_users * n_items.
        scale: `(min, max)` rating range, `0 < min < max` (0 marks an unobserved entry).
        step: rating grid step; must divide `max - min` into whole steps.
        rank: rank of the interaction term (0 for biases only).
        noise: standard deviation of the Gaussian noise, in rating units.
        item_exponent: Zipf exponent of item popularity (0: all items equally popular).
        item_offset: Mandelbrot offset of the popularity ranks, as a share of `n_items`;
            larger values flatten the head of the distribution.
        user_sigma: log-normal sigma of user activity (0: all users equally active).
        seed: seed of `numpy.random.default_rng`; the same arguments and seed give the same
            output.
        as_frame: return a DataFrame instead of a matrix.

    Returns:
        With `as_frame=False`, a `scipy.sparse.csr_array` of shape `(n_items, n_users)` (items
        x users, as the models expect), float32, with exactly `n_ratings` stored entries, all on
        the grid and none of them 0; with `as_frame=True`, a `pandas.DataFrame` with int64
        columns `user`, `item` (0-based ids: the matrix column and row) and float64 `rating`,
        one row per rating, ordered by item and then user.

    Raises:
        ValueError: for a count that is not a positive integer, `n_ratings > n_users * n_items`,
            a bad `scale` or `step`, or a negative or non-finite `rank`, `noise`,
            `item_exponent`, `item_offset` or `user_sigma`; the message quotes the value.

    Examples:
        >>> from keras_hem.datasets.synthetic import sparse_ratings
        >>> r = sparse_ratings(n_users=40, n_items=30, n_ratings=200, seed=1)
        >>> r.shape, r.nnz, r.dtype
        ((30, 40), 200, dtype('float32'))
        >>> float(r.data.min()) >= 0.5, float(r.data.max()) <= 5.0
        (True, True)
        >>> frame = sparse_ratings(40, 30, 200, seed=1, as_frame=True)
        >>> list(frame.columns), len(frame)
        (['user', 'item', 'rating'], 200)
    """
    n_users = check_integer("n_users", n_users, minimum=1)
    n_items = check_integer("n_items", n_items, minimum=1)
    n_ratings = check_integer("n_ratings", n_ratings, minimum=1)
    if n_ratings > n_users * n_items:
        raise ValueError(
            f"`n_ratings` cannot exceed n_users * n_items = {n_users * n_items:,} distinct pairs, "
            f"got n_ratings={n_ratings!r}."
        )
    if n_users * n_items >= 2**63:
        raise ValueError(
            f"n_users * n_items = {n_users * n_items:,} pairs do not fit an int64 key, got "
            f"n_users={n_users!r}, n_items={n_items!r}."
        )
    grid = _check_grid(scale, step)
    rank = check_integer("rank", rank, minimum=0)
    noise = _check_real("noise", noise)
    item_exponent = _check_real("item_exponent", item_exponent)
    item_offset = _check_real("item_offset", item_offset)
    user_sigma = _check_real("user_sigma", user_sigma)

    rng = np.random.default_rng(seed)
    ranks = rng.permutation(n_items) + 1.0
    item_p = _probabilities(-item_exponent * np.log(ranks + item_offset * n_items))
    del ranks
    user_p = _probabilities(user_sigma * rng.standard_normal(n_users))
    keys = _sample_keys(rng, item_p, user_p, n_ratings)
    del item_p, user_p

    index = np.int32 if max(n_items, n_users, n_ratings) < 2**31 else np.int64
    items = np.floor_divide(keys, n_users, out=np.empty(n_ratings, index), casting="unsafe")
    users = np.remainder(keys, n_users, out=np.empty(n_ratings, index), casting="unsafe")
    del keys
    # Drawn after the pairs, so the pair set does not depend on the rating model.
    ratings = _grid_ratings(rng, items, users, (n_items, n_users), grid, rank, noise)
    if as_frame:
        import pandas as pd

        columns = {
            "user": users.astype(np.int64),
            "item": items.astype(np.int64),
            "rating": ratings.astype(np.float64),
        }
        del items, users, ratings
        return pd.DataFrame(columns, copy=False)
    from scipy import sparse

    indptr = np.zeros(n_items + 1, dtype=index)
    np.cumsum(np.bincount(items, minlength=n_items), out=indptr[1:])
    del items
    matrix = sparse.csr_array((ratings, users, indptr), shape=(n_items, n_users), copy=False)
    matrix.has_canonical_format = True  # keys were sorted and distinct
    return matrix
