"""Several fitted models served as one: their reconstructions and head outputs averaged.

`Recommender(ensemble=n)` fits `n` models and ranks and predicts with their mean. The mean is
taken here, behind the serving interface the scorers use (`encode`, `decode`, `decode_pairs`,
`ranking_logits`, `observation_scores`), so every scorer (`RatingScorer`, `EASEBlendScorer`,
`HeadScorer`) ranks an ensemble exactly as it ranks one model, in the same bounded memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_hem.types import ArrayLike

__all__ = ["AveragedModels"]


class AveragedModels:
    """The serving interface of fitted models whose outputs are averaged (an ensemble).

    `encode` concatenates the members' codes, `(n_rows, sum of their code widths)`; every
    decoding method splits such codes back into each member's part, calls that member and
    averages the results, member by member, so that no more than two output arrays are
    held at a time. The ranking head's logits are averaged as logits (a geometric mean of the
    head's probabilities up to one constant per column, which leaves each column's ranking
    well defined), `observation_scores` as probabilities.

    Args:
        models: the fitted members (e.g. `keras_hem.models.HEMAAE`), all of one orientation;
            each needs the methods above that are called.

    Attributes:
        models: the members, in order.
        orientation: their common orientation (`"item"` or `"user"`).

    Raises:
        ValueError: if `models` is empty or the members' orientations differ.

    Example:
        >>> from keras_hem import HEMAAE, RatingMatrix
        >>> train = RatingMatrix.from_arrays([0, 0, 1, 2], [0, 1, 1, 2], [5.0, 3.0, 4.0, 2.0])
        >>> members = [HEMAAE(hidden=4, seed=seed) for seed in (0, 1000)]
        >>> for member in members:
        ...     member.compile()
        ...     _ = member.fit(train.to_item_user_csr(), epochs=1, verbose=0)
        >>> ensemble = AveragedModels(members)
        >>> codes = ensemble.encode(train.to_item_user_csr())
        >>> codes.shape  # two members' codes side by side
        (3, 8)
        >>> ensemble.decode(codes, columns=[0, 2]).shape
        (3, 2)
    """

    def __init__(self, models: Sequence):
        models = list(models)
        if not models:
            raise ValueError("AveragedModels needs at least one model, got none.")
        orientations = [getattr(model, "orientation", "item") for model in models]
        if len(set(orientations)) > 1:
            raise ValueError(
                f"The members of an ensemble must share one orientation, got {orientations}."
            )
        self.models = models
        self.orientation = orientations[0]
        self._bounds = None

    def __len__(self):
        return len(self.models)

    def encode(self, rows, batch_size: int | None = None) -> np.ndarray:
        """Every member's codes of `rows`, side by side.

        Args:
            rows: rows in the members' orientation, as for their `encode`.
            batch_size: rows per step (`None`: each member's default).

        Returns:
            float32 array `(n_rows, sum of the members' code widths)`.
        """
        codes = [
            np.asarray(model.encode(rows, batch_size=batch_size), dtype=np.float32)
            for model in self.models
        ]
        self._bounds = np.cumsum([0] + [part.shape[1] for part in codes])
        return np.concatenate(codes, axis=1)

    def decode(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """The members' mean reconstruction (unclipped) of `codes` at some columns.

        Args:
            codes: `(n, width)` codes from `encode`.
            columns: optional int array of column indices (users, for item rows).

        Returns:
            float32 array `(n, len(columns))` (`(n, n_columns)` without `columns`).
        """
        return self._mean("decode", codes, columns)

    def decode_pairs(self, codes: ArrayLike, columns: ArrayLike) -> np.ndarray:
        """The members' mean reconstruction of one `(code, column)` pair per entry.

        Args:
            codes: `(p, width)` codes, one per pair.
            columns: int array `(p,)`, the column of each pair.

        Returns:
            float32 array `(p,)`.
        """
        return self._mean("decode_pairs", codes, columns)

    def ranking_logits(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """The members' mean ranking-head logits (every member needs a head).

        Args:
            codes: `(n, width)` codes.
            columns: optional int array of column indices.

        Returns:
            float32 array `(n, len(columns))` (`(n, n_columns)` without `columns`).

        Raises:
            ValueError: if a member has no ranking head (its own message).
        """
        return self._mean("ranking_logits", codes, columns)

    def observation_scores(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """The members' mean ranking-head probabilities (every member needs a head).

        Args:
            codes: `(n, width)` codes.
            columns: optional int array of column indices.

        Returns:
            float32 array `(n, len(columns))`.

        Raises:
            ValueError: if a member has no ranking head (its own message).
        """
        return self._mean("observation_scores", codes, columns)

    def _mean(self, method, codes, columns):
        """`method`'s output averaged over the members, each given its own part of `codes`."""
        if self._bounds is None:
            raise RuntimeError("Call AveragedModels.encode first: it sets each member's codes.")
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self._bounds[-1]:
            raise ValueError(
                f"Expected codes of width {self._bounds[-1]} (the members' widths "
                f"{np.diff(self._bounds).tolist()} side by side), got shape {codes.shape}."
            )
        total = None
        for model, lo, hi in zip(self.models, self._bounds[:-1], self._bounds[1:], strict=True):
            part = getattr(model, method)(codes[:, lo:hi], columns)
            part = np.asarray(part, dtype=np.float32)
            total = part.copy() if total is None else np.add(total, part, out=total)
        return total / np.float32(len(self.models))
