"""A ready-to-use HEM-AAE recommender: ratings table in, predictions and top-k lists out.

`Recommender` wraps the whole workflow around `keras_hem.models.HEMAAE`: it maps ids to
indices (`RatingMatrix`), trains the model on item rows (each sample is one item's ratings over
all users) with early stopping on a validation slice of the training ratings, and answers in
original ids.

Predictions for users and items the model has never seen follow one documented fallback:

* a pair whose user and item both have training ratings gets the model's reconstruction;
* otherwise the item's mean training rating, if the item has training ratings;
* otherwise the user's mean training rating, if the user has training ratings;
* otherwise the global mean training rating.

Predicted ratings are clipped to the rating scale. "Seen" means "has at least one training
rating": an id that is in the id maps but whose ratings all went to a test split is unseen too.

Rankings (`score_users`, `recommend`) use the `ranking` score: by default EASE's item-item
score of the items each user rated (`keras_hem.layers.EASEScorer`) plus `rating_weight` times
the predicted rating's deviation from the global mean plus `head_weight` times the
standardised logits of the model's multinomial ranking head (learnt from the codes, see
`head_weight`); `ranking="ratings"` ranks by the predicted ratings alone, as the paper does,
and `ranking="head"` by the ranking head alone. Scores are unclipped, so clipping creates no
ties. Users without training ratings are ranked the same way as unknown users: by each item's
mean rating shrunk towards the global mean by `PRIOR_RATINGS` pseudo-ratings, so that an item
with a single 5-star rating does not outrank a well-liked popular one.

`Recommender(ensemble=n)` fits `n` models with different seeds and serves their mean (see
`keras_hem.ranking.AveragedModels`).

Serving holds no users x items array (MovieLens-25M's would take 38 GB). After `fit` or
`load`, the model's code of every item (of every user, with `orientation="user"` in
`model_kwargs`) is computed once (rows x `hidden`, small); `predict`
decodes only the pairs it is asked for, and `score_users` / `recommend` decode a chunk of
users at a time and keep each user's top k (`keras_hem.ranking`), so memory stays at a few
`(chunk, n_items)` arrays whatever the number of users. The ranking strategies are the
scorers of `keras_hem.ranking`; `scorer` is the one in use and `with_ranking` gives a view
ranked by another. EASE's items x items matrix is bounded too: above `ease_max_items` items
(by default sized to a quarter of the machine's memory) EASE is fitted on the most-rated
items only, the others being ranked by the rating term (see `keras_hem.ranking.EASEBlendScorer`).
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_hem.arguments import check_choice, check_integer, check_number
from keras_hem.checkpoint import STATE_FILE as CHECKPOINT_STATE
from keras_hem.checkpoint import (
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    TrainingCheckpoint,
    resume_state,
)
from keras_hem.data import RatingMatrix, validation
from keras_hem.evaluation.model import EvaluatedModel
from keras_hem.models.adversarial_autoencoder import paper_adam
from keras_hem.presets import merge_preset
from keras_hem.ranking import (
    CHUNK_CELLS,
    PRIOR_RATINGS,
    AveragedModels,
    EASEBlendScorer,
    HeadScorer,
    PopularityScorer,
    RatingScorer,
    RatingStatistics,
    Scorer,
    chunk_size_for,
    chunked_top_k,
)
from keras_hem.saving import (
    MODEL_FILE,
    RATINGS_FILE,
    STATE_FILE,
    member_model_files,
    model_files,
)
from keras_hem.types import ArrayLike

__all__ = ["MONITOR", "PRIOR_RATINGS", "RANKINGS", "Recommender"]

# The validation metric early stopping watches; MAE is the paper's headline metric.
MONITOR = "val_mae"
_FORMAT = "keras_hem.Recommender"
_VERSION = 1
RANKINGS = ("ease", "ratings", "head")
# The ranking head a Recommender gives its model (see `head_weight`), and the head's weight in
# the default "ease" score; both chosen on validation slices (benchmarks/ranking_head.py).
HEAD_KWARGS = {
    "ranking_weight": 1.0,
    "ranking_loss": "multinomial",
    "ranking_trains_encoder": False,
}
HEAD_WEIGHT = 0.5
# `global_kernel_epochs`: the width of the global kernel unless `model_kwargs` names one
# (GLocal-K's).
GLOBAL_KERNEL_SIZE = 3
# `lr_patience="auto"`: halve the learning rate after this many epochs without progress of the
# validation MAE (chosen with `HEMAAE(input_dropout=0.5)` on validation slices; see the docs).
LR_PATIENCE = 5
# `ensemble`: member k is fitted with seed `seed + MEMBER_SEED_STEP * k`.
MEMBER_SEED_STEP = 1000
# Settings of the ranking score alone: `with_ranking` changes them without retraining.
SCORING_SETTINGS = ("ease_l2", "rating_weight", "head_weight", "ease_max_items")
# Scores per chunk of `recommend`: users are ranked `_SCORE_CELLS // n_items` at a time, which
# bounds memory to a few (chunk, n_items) arrays.
_SCORE_CELLS = CHUNK_CELLS


def _build_model(hidden, seed, model_kwargs):
    """Create the HEM-AAE model (imported here so that tests can substitute a stand-in)."""
    from keras_hem.models import HEMAAE

    return HEMAAE(hidden=hidden, seed=seed, **model_kwargs)


def _merged(history, new):
    """New per-epoch logs: those of `history`, then a `fit`'s `new` ones, as floats."""
    merged = {k: list(v) for k, v in history.items()}
    for name, values in new.items():
        merged.setdefault(name, []).extend(float(v) for v in values)
    return merged


def member_folder(checkpoint_dir: str | Path, member: int) -> Path:
    """Where member `member` of an ensemble keeps its checkpoint (see `Recommender.fit`).

    The first member uses `checkpoint_dir` itself, as a single model does; member k >= 1 its
    `member-k` subfolder.

    Args:
        checkpoint_dir: the run's checkpoint folder.
        member: the member's index.

    Returns:
        The member's checkpoint folder.

    Examples:
        >>> member_folder("run/checkpoint", 2).as_posix()
        'run/checkpoint/member-2'
    """
    folder = Path(checkpoint_dir)
    return folder if member == 0 else folder / f"member-{member}"


def _as_ids(ids, name):
    """A 1-D array of ids from one id or an array-like, keeping mixed id types intact."""
    ndim = np.ndim(ids)
    if ndim > 1:
        raise ValueError(f"`{name}` must be one id or a 1-D array-like, got {ndim} dimensions.")
    return validation.as_column([ids] if ndim == 0 else ids)


class Recommender(EvaluatedModel):
    """HEM-AAE recommender over explicit ratings, answering in original user and item ids.

    See the module docstring for the fallback used for unseen users and items.

    Args:
        hidden: hidden units of the autoencoder (the default was chosen by nested validation;
            the paper uses 100 for ML-100K, 400 for ML-1M: `from_preset("paper")`).
        epochs: maximum number of training epochs (early stopping usually ends a fit sooner:
            on MovieLens-100K / -1M the defaults ran 50-87 / 86-104 epochs).
        batch_size: item rows per training batch (with the default summed reconstruction
            error, the batch size also sets how strongly `l2` regularises).
        seed: seed of the model's initialisers and of the validation split. For bit-for-bit
            reproducible training also call `keras.utils.set_random_seed` (batch shuffling).
        validation_fraction: fraction of the training ratings held out for early stopping, in
            (0, 1); `0` or `None` trains for all `epochs` without validation.
        patience: epochs without improvement of the validation MAE before training stops; the
            weights of the best epoch are restored.
        model_kwargs: extra keyword arguments for `HEMAAE`.
        ranking: what top-N lists are ranked by: `"ease"` (default; `EASEScorer` on the
            training interactions plus `rating_weight` x (predicted rating - global mean)
            plus the ranking head, see `head_weight`), `"ratings"` (the predicted ratings;
            the paper) or `"head"` (the model's ranking head alone; the model gets one). It
            does not change `predict`. See the docs' benchmarks page for how the default was chosen.
        ease_l2: ridge penalty of the `EASEScorer` (`ranking="ease"`).
        rating_weight: weight of the predicted ratings in the `"ease"` score; 0 ranks by EASE
            alone.
        ease_max_items: the most items EASE is fitted on (`ranking="ease"`); above it, EASE
            keeps the most-rated items and ranks the others by the rating term alone. `None`
            (default): at most 10,000 items and at most what fits, at 16 bytes x
            `ease_max_items**2`, in a quarter of the physical memory
            (`keras_hem.layers.ease_scorer.default_max_items`). The fit costs O(M^3) time
            for M kept items.
        learning_rate: learning rate of the autoencoder's Adam (the paper's Adam otherwise:
            betas 0.9 / 0.999, epsilon 1e-8; the discriminator keeps the paper's 0.001).
        lr_patience: epochs without improvement of the validation MAE before the
            autoencoder's learning rate is multiplied by `lr_factor`
            (`keras.callbacks.ReduceLROnPlateau`, its other settings Keras's defaults); `None`
            keeps it constant. `"auto"` (default): `LR_PATIENCE` (5) when there is a
            validation slice, else constant. A number needs a validation slice. A run
            resumed from a checkpoint lowers the rate where an uninterrupted run would.
        lr_factor: the factor of each reduction, in (0, 1).
        head_weight: weight of the model's ranking head in the `"ease"` score
            (`keras_hem.ranking.EASEBlendScorer`). Unless `model_kwargs` sets `ranking_weight`,
            a model that needs a head gets `HEAD_KWARGS`: a multinomial head that reads the
            codes without training the encoder, so `predict` and the MAE are those of a model
            without it. `None` (default): a head, at weight `HEAD_WEIGHT` (0.5, chosen on
            validation slices), where the training ratings fill at least `SPARSE_DENSITY`
            (1.5%) of the matrix; below that, training batches are sparse and a head (which
            scores every entry) would make them dense, so there is none. A number: that
            weight, with a head whatever the density; `0` trains no head.
        ensemble: number of models fitted, one after another, each with its own seed
            (`member_seeds`: `seed`, `seed + 1000`, ...), which sets its initial weights,
            batch order, denoising masks and validation slice; `predict`, `score_users` and
            `recommend` use their mean reconstruction (and mean head logits), through
            `keras_hem.ranking.AveragedModels`. Fit time, saved size and serving time grow
            `ensemble`-fold. `1` (default): one model. On five MovieLens-100K / -1M test
            splits two fits lowered the MAE on every split, by 0.0036 / 0.0027 on average
            (the docs' benchmarks page, `hem_aae_ensemble`).
        global_kernel_epochs: `0` (default) for one training stage. `n >= 1` adds GLocal-K's
            fine-tuning stage: each model gets a global kernel (`HEMAAE(global_kernel_size=
            3)` unless `model_kwargs` names another odd size), trains as usual, then
            `start_global_kernel` sets it from the model's reconstruction and training goes
            on for at most `n` more epochs, under the same early stopping, which keeps the
            first stage's weights unless the stage lowers the validation MAE (without a
            validation slice, all `n` run). Not combined with `checkpoint_dir`. On
            validation slices it did nothing on MovieLens-100K and lowered the MAE but raised
            the RMSE on MovieLens-1M, at twice the fit time (the docs' benchmarks page).

    Attributes:
        model: the trained Keras model (`None` before `fit`); of an ensemble, the first.
        models: the trained models, `[model]` for a single one (an ensemble interrupted by
            Ctrl-C holds the members fitted so far).
        train: the training `RatingMatrix` (`None` before `fit`).
        history: dict of per-epoch training logs (`loss`, `mae`, `rmse`, `val_mae`, ...); of
            an ensemble, the first member's.
        histories: the per-epoch logs of every model, in `models` order.
        metadata: JSON-able dict saved and loaded with the recommender, free for callers (the
            command-line tool records its data set there).

    Raises:
        ValueError: if an argument is malformed (the message quotes it), or `ranking="head"`
            or `head_weight > 0` with `model_kwargs={"ranking_weight": 0}`.

    Examples:
        >>> import pandas as pd
        >>> ratings = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "b"],
        ...                         "rating": [5, 3, 4, 2, 1]})
        >>> rec = Recommender(hidden=4, epochs=2, validation_fraction=0)
        >>> rec = rec.fit(ratings, verbose=0)
        >>> rec.predict([1, 99], ["c", "a"]).shape  # user 99 is unknown: mean rating of "a"
        (2,)
        >>> rec.recommend(1, k=1).columns.tolist()
        ['user', 'rank', 'item', 'score', 'basis']
    """

    def __init__(
        self,
        hidden: int = 300,
        epochs: int = 150,
        batch_size: int = 128,
        seed: int = 0,
        validation_fraction: float = 0.1,
        patience: int = 10,
        model_kwargs: dict | None = None,
        ranking: str = "ease",
        ease_l2: float = 500.0,
        rating_weight: float = 0.03,
        ease_max_items: int | None = None,
        learning_rate: float = 0.001,
        head_weight: float | None = None,
        lr_patience: int | str | None = "auto",
        lr_factor: float = 0.5,
        ensemble: int = 1,
        global_kernel_epochs: int = 0,
    ):
        check_integer("hidden", hidden, minimum=1)
        check_number("learning_rate", learning_rate, strict=True, finite=True)
        check_integer("epochs", epochs, minimum=1)
        check_integer("batch_size", batch_size, minimum=1)
        check_integer("patience", patience, minimum=1)
        check_integer("seed", seed, minimum=0)
        check_integer("ensemble", ensemble, minimum=1)
        check_integer("global_kernel_epochs", global_kernel_epochs, minimum=0)
        size = model_kwargs.get("global_kernel_size") if isinstance(model_kwargs, dict) else None
        if size is not None and bool(size) != bool(global_kernel_epochs):
            raise ValueError(
                f"model_kwargs global_kernel_size={size!r} and "
                f"global_kernel_epochs={global_kernel_epochs!r} disagree: the global kernel is "
                "trained only in the fine-tuning stage, so give both (or neither)."
            )
        if validation_fraction:
            validation.validate_fraction(validation_fraction, "validation_fraction")
        if isinstance(lr_patience, str):
            if lr_patience != "auto":
                raise ValueError(
                    "`lr_patience` must be a positive integer, None or 'auto', "
                    f"got {lr_patience=!r}."
                )
            lr_patience = LR_PATIENCE if validation_fraction else None
        if lr_patience is not None:
            check_integer("lr_patience", lr_patience, minimum=1)
            if not validation_fraction:
                raise ValueError(
                    f"lr_patience={lr_patience!r} watches the validation MAE, but "
                    f"validation_fraction={validation_fraction!r} holds no validation slice."
                )
        validation.validate_fraction(lr_factor, "lr_factor")
        if model_kwargs is not None and not isinstance(model_kwargs, dict):
            raise ValueError(f"`model_kwargs` must be a dict or None, got {model_kwargs=!r}.")
        clash = sorted({"hidden", "seed"} & set(model_kwargs or {}))
        if clash:
            raise ValueError(
                f"Pass {' and '.join(clash)} to Recommender itself, not in {model_kwargs=!r}."
            )
        self.hidden = int(hidden)
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.validation_fraction = float(validation_fraction or 0.0)
        self.patience = int(patience)
        self.learning_rate = float(learning_rate)
        self.lr_patience = None if lr_patience is None else int(lr_patience)
        self.lr_factor = float(lr_factor)
        self.ensemble = int(ensemble)
        self.global_kernel_epochs = int(global_kernel_epochs)
        check_choice("ranking", ranking, RANKINGS)
        check_number("head_weight", head_weight, allow_none=True)
        # A malformed `ranking_weight` is left to HEMAAE's own check (when the model is built).
        weight = (model_kwargs or {}).get("ranking_weight", 1)
        no_head = isinstance(weight, numbers.Real) and weight <= 0
        if no_head and (ranking == "head" or (head_weight or 0) > 0):
            wanted = "ranking='head'" if ranking == "head" else f"head_weight={head_weight!r}"
            raise ValueError(
                f"{wanted} needs a ranking head, but {model_kwargs=!r} turns it off; drop "
                "'ranking_weight' (a multinomial head is added) or make it > 0."
            )
        check_number("ease_l2", ease_l2, strict=True)
        check_number("rating_weight", rating_weight)
        if ease_max_items is not None and (
            isinstance(ease_max_items, bool)
            or not isinstance(ease_max_items, numbers.Integral)
            or ease_max_items < 1
        ):
            raise ValueError(
                f"`ease_max_items` must be a positive integer or None, got {ease_max_items=!r}."
            )
        self.model_kwargs = dict(model_kwargs or {})
        self.ranking = ranking
        self.ease_l2 = float(ease_l2)
        self.rating_weight = float(rating_weight)
        self.ease_max_items = None if ease_max_items is None else int(ease_max_items)
        self.head_weight = None if head_weight is None else float(head_weight)
        self.model = None
        self.models = []
        self.train = None
        self.history = {}
        self.histories = []
        self.metadata = {}
        self.interrupted = False

    def get_config(self) -> dict:
        """Return the constructor arguments as JSON-able data.

        Returns:
            Dict that `from_config` (or `Recommender(**config)`) turns back into an unfitted
            recommender.

        Examples:
            >>> Recommender(hidden=8).get_config()["hidden"]
            8
        """
        return {
            "hidden": self.hidden,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "validation_fraction": self.validation_fraction,
            "patience": self.patience,
            "model_kwargs": dict(self.model_kwargs),
            "ranking": self.ranking,
            "ease_l2": self.ease_l2,
            "rating_weight": self.rating_weight,
            "ease_max_items": self.ease_max_items,
            "learning_rate": self.learning_rate,
            "head_weight": self.head_weight,
            "lr_patience": self.lr_patience,
            "lr_factor": self.lr_factor,
            "ensemble": self.ensemble,
            "global_kernel_epochs": self.global_kernel_epochs,
        }

    @classmethod
    def from_config(cls, config):
        """Create an unfitted recommender from `get_config` output.

        Args:
            config: dict of constructor arguments.

        Returns:
            A new `Recommender`.

        Examples:
            >>> Recommender.from_config({"hidden": 8}).hidden
            8
        """
        return cls(**config)

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> Recommender:
        """Create an unfitted recommender from a named preset (`keras_hem.presets`).

        Args:
            preset: `"default"` (the constructor's defaults) or `"paper"` (the HEM-AAE
                paper's settings; pass `hidden=100` for MovieLens-100K).
            **overrides: constructor arguments that replace the preset's; `model_kwargs`
                merge key by key with the preset's.

        Returns:
            A new `Recommender`.

        Raises:
            ValueError: for an unknown preset or a malformed argument.

        Examples:
            >>> rec = Recommender.from_preset("paper", hidden=100)
            >>> rec.hidden, rec.ranking, rec.model_kwargs["output_activation"]
            (100, 'ratings', 'sigmoid')
        """
        return cls(**merge_preset(preset, overrides))

    def __repr__(self):
        state = "fitted" if self.is_fitted else "not fitted"
        members = f", ensemble={self.ensemble}" if self.ensemble > 1 else ""
        return f"Recommender(hidden={self.hidden}, epochs={self.epochs}{members}, {state})"

    @property
    def is_fitted(self) -> bool:
        """Whether `fit` (or `load`) has run."""
        return self.model is not None

    # ----------------------------------------------------------------------------------------
    # Training

    def fit(
        self,
        ratings: RatingMatrix | pd.DataFrame,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        scale: tuple[float, float] | None = None,
        callbacks: list[keras.callbacks.Callback] | None = None,
        verbose: str | int = "auto",
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
    ) -> Recommender:
        """Train a fresh model on explicit ratings (or resume an interrupted run).

        The validation slice for early stopping is drawn from `ratings` with
        `RatingMatrix.random_split(validation_fraction, seed)`; pass only training data here,
        never the test set. The model trains on the remaining ratings, but predicts from all
        of `ratings` (the validation slice included) once trained.

        With `checkpoint_dir`, a checkpoint is written there after every epoch
        (`keras_hem.checkpoint`); `resume=True` continues from it, with the same batches,
        optimizer state and early-stopping state, so the resumed run ends where an
        uninterrupted one would. Interrupted (`KeyboardInterrupt`, e.g. Ctrl-C), `fit` keeps
        the best weights so far, makes the recommender usable (`interrupted` is then True)
        and re-raises, so that the caller can save it.

        With `ensemble > 1` the models are fitted in turn, each on its own validation split
        (`member_seeds`). Member k >= 1 checkpoints into `checkpoint_dir/member-k`
        (`member_folder`); a resumed run loads the members that had finished from their
        checkpoints, continues the interrupted one and fits the rest afresh. Interrupted, the
        recommender serves the members fitted so far.

        Args:
            ratings: a `pandas.DataFrame` with one rating per row, or a `RatingMatrix`.
            user_col: user id column of a DataFrame.
            item_col: item id column of a DataFrame.
            rating_col: rating column of a DataFrame.
            scale: `(min, max)` rating scale of a DataFrame's ratings; inferred when `None`.
                Predictions are clipped to it.
            callbacks: extra Keras callbacks for `model.fit`.
            verbose: Keras `fit` verbosity (`"auto"`, 0, 1 or 2).
            checkpoint_dir: folder for per-epoch checkpoints; `None` writes none.
            resume: continue the run checkpointed in `checkpoint_dir` (same ratings, same
                settings) instead of starting afresh.

        Returns:
            `self`, fitted.

        Raises:
            TypeError: if `ratings` is neither a DataFrame nor a RatingMatrix.
            ValueError: for invalid ratings (see `RatingMatrix.from_dataframe`) or too few of
                them to carve out a validation slice; `resume` without a checkpoint.
            KeyboardInterrupt: re-raised after an interruption (see above).
        """
        train = self._rating_matrix(ratings, user_col, item_col, rating_col, scale)
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs the `checkpoint_dir` of the run to resume.")
        if checkpoint_dir is not None and self.global_kernel_epochs:
            raise ValueError(
                f"global_kernel_epochs={self.global_kernel_epochs!r} cannot be checkpointed: "
                "a checkpoint holds one training stage; fit without `checkpoint_dir`."
            )
        self.interrupted = False
        fitted = []  # (model, history) of each member so far
        # Every member gets the same model settings (whether it has a ranking head included),
        # decided on the first member's training part, so that their outputs can be averaged.
        model_kwargs = None
        try:
            for member, seed in enumerate(self.member_seeds):
                folder = None if checkpoint_dir is None else member_folder(checkpoint_dir, member)
                # A member that the interrupted run never reached starts afresh.
                resumed = resume and (member == 0 or (folder / CHECKPOINT_STATE).is_file())
                model_kwargs = self._fit_member(
                    train, seed, model_kwargs, folder, resumed, callbacks, verbose, fitted
                )
        except KeyboardInterrupt:
            self.interrupted = True
            self._finish(fitted, train)
            raise
        self._finish(fitted, train)
        return self

    def _fit_member(self, train, seed, model_kwargs, folder, resume, callbacks, verbose, fitted):
        """Fit (or resume) one model with `seed`; append `(model, history)` to `fitted`.

        Interrupted, the model is appended with the best weights so far, then the interrupt is
        re-raised. Returns the model settings used, for the next member.
        """
        fit_part, validation_data, stopping, schedule = self._validation_split(train, seed)
        if model_kwargs is None:
            model_kwargs = self._model_kwargs(fit_part)
        initial_epoch, history = 0, {}
        if resume:
            model, state, best_weights = resume_state(folder)
            if getattr(model, "hidden", self.hidden) != self.hidden:
                raise ValueError(
                    f"The checkpoint in {folder} is of a model with hidden="
                    f"{model.hidden}, not hidden={self.hidden}: resume with the settings of "
                    "the interrupted run."
                )
            history = state["history"]
            initial_epoch = self.epochs if state.get("stopped") else state["epoch"] + 1
            if stopping is not None:
                stopping.restored = state["stopping"]
                stopping.restored_weights = best_weights
            if schedule is not None:
                # Checkpoints written before the schedule was saved restart its count.
                schedule.restored = state.get("schedule")
        else:
            model = _build_model(self.hidden, seed, model_kwargs)
            model.compile(autoencoder_optimizer=paper_adam(self.learning_rate))
        extra = list(callbacks or [])
        checkpoint = None
        if folder is not None:
            checkpoint = TrainingCheckpoint(folder, stopping, history, schedule)
            extra.insert(0, checkpoint)
        rows = fit_part.to_item_user_csr()
        stage = dict(
            batch_size=self.batch_size,
            validation_data=validation_data,
            callbacks=[c for c in (stopping, schedule) if c is not None] + extra,
            verbose=verbose,
        )
        try:
            result = model.fit(rows, epochs=self.epochs, initial_epoch=initial_epoch, **stage)
            history = _merged(history, result.history)
            if self.global_kernel_epochs:
                history = self._fine_tune(model, rows, stopping, schedule, history, stage)
        except KeyboardInterrupt:
            best = None if stopping is None else stopping.best_weights
            if best is not None:  # keep the best epoch so far, as early stopping would
                model.set_weights(best)
            if checkpoint is not None:  # it holds every finished epoch, resumed ones included
                history = checkpoint.history
            fitted.append((model, {k: [float(v) for v in vs] for k, vs in history.items()}))
            raise
        fitted.append((model, history))
        return model_kwargs

    def _fine_tune(self, model, rows, stopping, schedule, history, stage):
        """GLocal-K's second stage: the global kernel set, training goes on; the merged logs.

        Early stopping and the learning-rate schedule carry on from the first stage, so the
        stage's weights are kept only where they beat the first stage's best validation MAE.
        """
        done = len(history.get("loss", []))
        if stopping is not None:
            # The first stage's best weights (statistics still 0) stay the ones to beat.
            stopping.restored = {**stopping.state(), "wait": 0}
            stopping.restored_weights = model.get_weights()
        if schedule is not None:
            schedule.restored = schedule.state()
        model.start_global_kernel(rows)
        result = model.fit(
            rows, epochs=done + self.global_kernel_epochs, initial_epoch=done, **stage
        )
        return _merged(history, result.history)

    @property
    def member_seeds(self) -> list[int]:
        """The seed of each model of the ensemble: `seed`, `seed + 1000`, ... (`ensemble` of them).

        A member's seed sets its initial weights, batch order, denoising masks and validation
        slice.
        """
        return [self.seed + MEMBER_SEED_STEP * k for k in range(self.ensemble)]

    def _finish(self, fitted, train):
        """Keep the fitted members and their histories, then build the scorers."""
        self.histories = [history for _, history in fitted]
        self.history = self.histories[0] if fitted else {}
        if fitted:
            self._set_state([model for model, _ in fitted], train)

    @staticmethod
    def _rating_matrix(ratings, user_col, item_col, rating_col, scale):
        """The training RatingMatrix of a DataFrame or RatingMatrix."""
        if isinstance(ratings, RatingMatrix):
            return ratings
        if isinstance(ratings, pd.DataFrame):
            return RatingMatrix.from_dataframe(ratings, user_col, item_col, rating_col, scale)
        raise TypeError(
            f"`ratings` must be a pandas DataFrame or a RatingMatrix, got {type(ratings).__name__}."
        )

    def _validation_split(self, train, seed):
        """`(fit_part, validation_data, stopping, schedule)`; without validation, no callbacks.

        The slice is drawn with `seed` (the member's); `schedule` is the learning-rate
        callback, `None` for a constant rate.
        """
        if not self.validation_fraction:
            return train, None, None, None
        fit_part, held_out = train.random_split(self.validation_fraction, seed=seed)
        rows = fit_part.to_item_user_csr()
        # Validation inputs are the training rows; the targets are the held-out ratings.
        validation_data = (rows, held_out.to_item_user_csr())
        stopping = ResumableEarlyStopping(
            monitor=MONITOR, mode="min", patience=self.patience, restore_best_weights=True
        )
        schedule = None
        if self.lr_patience is not None:
            # `model.optimizer` is the optimizer group: its learning rate is the autoencoder's.
            schedule = ResumableReduceLROnPlateau(
                monitor=MONITOR, mode="min", factor=self.lr_factor, patience=self.lr_patience
            )
        return fit_part, validation_data, stopping, schedule

    def _set_state(self, models, train):
        """Store the models and training data, then build the scorers (no score matrix).

        An ensemble's members are scored through `AveragedModels`: every score is their mean.
        """
        statistics = RatingStatistics.from_ratings(train)
        served = models[0] if len(models) == 1 else AveragedModels(models)
        self._attach(models, train, statistics, RatingScorer(served, train, statistics))

    def _attach(self, models, train, statistics, ratings, scorer=None):
        """Set the fitted state from its parts; build the ranking scorer unless given."""
        self.models = list(models)
        self.model = self.models[0]
        self.train = train
        self._statistics = statistics
        self._ratings = ratings
        self._popularity = PopularityScorer(statistics)
        self._scorer = scorer or self._make_scorer()

    def _wants_head(self, train):
        """Whether to add the ranking head to a model whose `model_kwargs` leave it unset."""
        if self.ranking == "head" or (self.head_weight or 0) > 0:
            return True
        if self.head_weight is not None or self.ranking != "ease":
            return False
        # Where batches are sparse, a head (which scores every entry) would make them dense.
        from keras_hem.models.hem_aae import SPARSE_DENSITY

        return train.n_ratings / max(train.n_users * train.n_items, 1) >= SPARSE_DENSITY

    def _model_kwargs(self, train):
        """`model_kwargs`, with the ranking head and the global kernel added where wanted."""
        extra = {"global_kernel_size": GLOBAL_KERNEL_SIZE} if self.global_kernel_epochs else {}
        # A `ranking_weight` of the user's own decides alone.
        if "ranking_weight" not in self.model_kwargs and self._wants_head(train):
            extra.update(HEAD_KWARGS)
        return {**extra, **self.model_kwargs}

    def _effective_head_weight(self):
        """`head_weight`, or for `None`, `HEAD_WEIGHT` when the model has a head, else 0."""
        if self.head_weight is not None:
            return self.head_weight
        return HEAD_WEIGHT if getattr(self.model, "observation_decoder", None) else 0.0

    def _make_scorer(self):
        """The `keras_hem.ranking` scorer of `ranking` (EASE is fitted here)."""
        if self.ranking == "ratings":
            return self._ratings
        if self.ranking == "head":
            return HeadScorer(self._ratings)
        return EASEBlendScorer(
            self._ratings,
            l2=self.ease_l2,
            rating_weight=self.rating_weight,
            max_items=self.ease_max_items,
            head_weight=self._effective_head_weight(),
        )

    @property
    def scorer(self) -> Scorer:
        """The `keras_hem.ranking.Scorer` behind `score_users` and `recommend`.

        A `RatingScorer`, `EASEBlendScorer` or `HeadScorer`, by `ranking`; its
        `score(user_indices)` gives unclipped scores of every item for some users (by index),
        with popularity rows for users without training ratings.

        Raises:
            RuntimeError: if the recommender is not fitted.
        """
        self._check_fitted()
        return self._scorer

    def with_ranking(self, ranking: str | None = None, **scoring) -> Recommender:
        """The same fitted recommender ranking by another score; nothing is retrained.

        The view shares the model, training data, history and the model's codes with this
        recommender; only its `ranking` and scoring settings (and so `score_users`,
        `recommend` and `scorer`) differ. `predict` is the same. `ranking="ease"` fits EASE
        (see `ease_max_items`).

        Args:
            ranking: one of `RANKINGS` (`"head"` needs a model with a ranking head); `None`
                keeps this recommender's.
            **scoring: settings of the score alone, which need no training: `ease_l2`,
                `rating_weight`, `head_weight`, `ease_max_items` (e.g. `head_weight=0` for
                EASE and the rating term without the head).

        Returns:
            A fitted `Recommender`.

        Raises:
            RuntimeError: if the recommender is not fitted.
            ValueError: for an unknown ranking or scoring setting, a bad value, or `"head"`
                (or `head_weight > 0`) without a ranking head.

        Examples:
            >>> import pandas as pd
            >>> ratings = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"],
            ...                         "rating": [5, 3, 4]})
            >>> rec = Recommender(hidden=4, epochs=1, validation_fraction=0).fit(ratings, verbose=0)
            >>> rec.with_ranking("ratings").recommend(2, k=1)["basis"].tolist()
            ['ratings']
        """
        self._check_fitted()
        unknown = sorted(set(scoring) - set(SCORING_SETTINGS))
        if unknown:
            raise ValueError(
                f"with_ranking() takes the scoring settings {list(SCORING_SETTINGS)}, got "
                f"{unknown}; settings that change the model need a new fit."
            )
        ranking = self.ranking if ranking is None else ranking
        view = type(self).from_config({**self.get_config(), "ranking": ranking, **scoring})
        view.history, view.metadata = dict(self.history), dict(self.metadata)
        view.interrupted = self.interrupted
        same = ranking == self.ranking and not scoring
        view.histories = list(self.histories)
        view._attach(
            self.models, self.train, self._statistics, self._ratings, self._scorer if same else None
        )
        return view

    # ----------------------------------------------------------------------------------------
    # Predictions

    def _check_fitted(self):
        if not self.is_fitted:
            raise RuntimeError("This Recommender is not fitted yet; call fit() or load() first.")

    def _seen(self, ids, kind):
        """Indices of user or item ids (-1 if not in the id maps) and whether each was seen."""
        ids = _as_ids(ids, f"{kind}s")
        lookup = self.train.user_index if kind == "user" else self.train.item_index
        stats = self._statistics
        seen_mask = stats.user_seen if kind == "user" else stats.item_seen
        index = lookup(ids)
        seen = index >= 0
        seen[seen] = seen_mask[index[seen]]
        return ids, index, seen

    def known_users(self, users: ArrayLike) -> np.ndarray:
        """Whether each user id has training ratings (and so gets personal predictions).

        Args:
            users: one user id or a 1-D array-like of ids.

        Returns:
            bool array, one entry per id.

        Raises:
            RuntimeError: if the recommender is not fitted.
        """
        self._check_fitted()
        return self._seen(users, "user")[2]

    def known_items(self, items: ArrayLike) -> np.ndarray:
        """Whether each item id has training ratings.

        Args:
            items: one item id or a 1-D array-like of ids.

        Returns:
            bool array, one entry per id.

        Raises:
            RuntimeError: if the recommender is not fitted.
        """
        self._check_fitted()
        return self._seen(items, "item")[2]

    def predict(self, users: ArrayLike, items: ArrayLike, strict: bool = False) -> np.ndarray:
        """Predict the ratings of (user id, item id) pairs, clipped to the rating scale.

        Args:
            users: user ids (one id or a 1-D array-like).
            items: item ids, one per user id.
            strict: if True, raise instead of using the fallback for unseen ids.

        Returns:
            float32 array of predicted ratings, one per pair.

        Raises:
            RuntimeError: if the recommender is not fitted.
            ValueError: if `users` and `items` differ in length, or with `strict=True` if an
                id has no training ratings (the message counts and shows them).
        """
        self._check_fitted()
        user_ids, u, user_seen = self._seen(users, "user")
        item_ids, i, item_seen = self._seen(items, "item")
        validation.check_same_length({"users": user_ids, "items": item_ids})
        if strict:
            _raise_unknown(user_ids[~user_seen], item_ids[~item_seen])
        stats = self._statistics
        values = np.full(len(u), stats.global_mean, dtype=np.float32)
        # Later assignments win: user mean, then item mean, then the model.
        values[user_seen] = stats.user_mean[u[user_seen]]
        values[item_seen] = stats.item_mean[i[item_seen]]
        both = user_seen & item_seen
        values[both] = self._ratings.predict_pairs(u[both], i[both])
        return np.clip(values, *self.train.scale)

    def score_users(self, user_indices: ArrayLike) -> np.ndarray:
        """Unclipped scores of every item for some users, by index (the evaluation `score_fn`).

        The scores are computed for these users only, by `scorer` (nothing is cached): ask
        for a chunk of users at a time.

        Args:
            user_indices: 1-D int array of user indices of `train` (not ids).

        Returns:
            float32 array of shape `(len(user_indices), n_items)`.

        Raises:
            RuntimeError: if the recommender is not fitted.
            IndexError: if an index is out of range.
        """
        self._check_fitted()
        return self._scorer.score(
            validation.check_indices(user_indices, self.train.n_users, "user")
        )

    def recommend(self, users: ArrayLike, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-k items for each user, best first.

        Users without training ratings (unknown ids included) get the items with the highest
        mean rating shrunk towards the global mean (see the module docstring). Ties go to the
        item with the lower index.

        Args:
            users: one user id or a 1-D array-like of user ids.
            k: number of items per user; fewer when fewer candidates remain.
            exclude_seen: leave out items the user rated in training.

        Returns:
            `pandas.DataFrame` with columns `user`, `rank` (1 = best), `item` (original ids),
            `score` (the unclipped ranking score) and `basis`, what the score is: the
            `ranking` (`"ease"`, `"ratings"` or `"head"`) for users with training ratings,
            `"popularity"` (a shrunk mean rating) for the others. Scores of different bases
            are on different scales: compare them only within one basis. `k` rows per user,
            in input order.

        Raises:
            RuntimeError: if the recommender is not fitted.
            ValueError: if `k` is not a positive integer.
        """
        self._check_fitted()
        check_integer("k", k, minimum=1)
        user_ids, u, seen = self._seen(users, "user")
        if not len(u):
            return pd.DataFrame({"user": [], "rank": [], "item": [], "score": [], "basis": []})
        # Users without training ratings (-1: not in the id maps) get the popularity scores.
        ranked = np.where(seen, u, -1)
        top = chunked_top_k(
            self._rank_chunk,
            ranked,
            k,
            exclude=self.train.csr if exclude_seen else None,
            chunk_size=chunk_size_for(self.train.n_items, _SCORE_CELLS),
        )
        k = top.items.shape[1]
        keep = top.valid.ravel()
        basis = np.where(seen, self._scorer.name, self._popularity.name)
        return pd.DataFrame(
            {
                "user": np.repeat(user_ids, k)[keep],
                "rank": np.tile(np.arange(1, k + 1), len(u))[keep],
                "item": self.train.item_ids[top.items.ravel()[keep]],
                "score": top.scores.ravel()[keep],
                "basis": np.repeat(basis, k)[keep],
            }
        )

    def _rank_chunk(self, users):
        """Scores of one chunk of users: the scorer's, popularity's for index -1."""
        known = users >= 0
        if known.all():
            return self._scorer.score(users)
        scores = self._popularity.score(users)
        if known.any():
            scores[known] = self._scorer.score(users[known])
        return scores

    # ----------------------------------------------------------------------------------------
    # Persistence

    def save(self, directory: str | Path) -> None:
        """Save the fitted recommender into a folder (created if needed).

        Writes `model.keras` (the Keras model; with `ensemble=n`, the first member, and
        `model-1.keras` ... `model-<n-1>.keras` the others), `ratings.npz` (the training
        ratings as indices) and `recommender.json` (configuration, id maps, histories,
        metadata). Member files of an earlier, larger ensemble saved in the same folder are
        removed, so the folder holds one recommender.

        Args:
            directory: folder path.

        Raises:
            RuntimeError: if the recommender is not fitted.
            TypeError: if an id or the metadata cannot be written as JSON.
        """
        self._check_fitted()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "format": _FORMAT,
            "version": _VERSION,
            "config": self.get_config(),
            "id_maps": self.train.get_config(),
            "history": self.history,
            "histories": self.histories,
            "members": len(self.models),
            "metadata": self.metadata,
        }
        # Serialise first so that a JSON error leaves no half-written folder behind.
        text = json.dumps(state, indent=1)
        names = model_files(len(self.models))
        for model, name in zip(self.models, names, strict=True):
            model.save(folder / name)
        for stale in set(member_model_files(folder)) - set(names):
            (folder / stale).unlink()
        np.savez(
            folder / RATINGS_FILE,
            users=self.train.users,
            items=self.train.items,
            ratings=self.train.ratings,
        )
        (folder / STATE_FILE).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load a recommender written by `save`; it predicts exactly as the saved one.

        The scorers are rebuilt from the saved model and training ratings: the model's codes
        of every item, and with `ranking="ease"` EASE's closed-form fit (about 10 s for
        ML-1M's 3706 items on 2 CPU cores; see `ease_max_items` for larger catalogues).

        Args:
            directory: folder written by `save`.

        Returns:
            A fitted `Recommender`.

        Raises:
            FileNotFoundError: if a file of the saved recommender is missing.
            ValueError: if the folder holds something else than a saved recommender, or a
                saved file is truncated or edited (the message names which).
        """
        folder = Path(directory)
        _check_files(folder, (STATE_FILE, MODEL_FILE, RATINGS_FILE))
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(
                f"{folder / STATE_FILE} is damaged (not JSON: {err}); save the recommender again."
            ) from None
        if not isinstance(state, dict) or (
            state.get("format") != _FORMAT or state.get("version") != _VERSION
        ):
            raise ValueError(
                f"{folder / STATE_FILE} is not a version-{_VERSION} saved Recommender."
            )
        # Recommenders saved before `ranking` existed ranked by their predicted ratings, and
        # those saved before `head_weight` existed left any ranking head out of the EASE score.
        defaults = {"ranking": "ratings", "head_weight": 0.0}
        recommender = cls.from_config({**defaults, **state["config"]})
        recommender.history = state["history"]
        # Recommenders saved before `ensemble` existed hold one model.
        recommender.histories = state.get("histories", [state["history"]])
        recommender.metadata = state["metadata"]
        names = model_files(state.get("members", 1))
        _check_files(folder, names)
        _import_models()
        try:
            models = [keras.models.load_model(folder / name) for name in names]
            with np.load(folder / RATINGS_FILE) as arrays:
                train = RatingMatrix.from_dict({**state["id_maps"], **arrays})
        except Exception as err:
            # Keras reports a truncated or edited archive in many ways ("File not found",
            # AttributeError, ...); say plainly which saved files are damaged.
            detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
            raise ValueError(
                f"{folder} holds a damaged saved Recommender ({', '.join(names)} or {RATINGS_FILE} "
                f"is truncated or edited: {detail}); save or train it again."
            ) from None
        recommender._set_state(models, train)
        return recommender


def _check_files(folder, names):
    """`FileNotFoundError` naming the files of a saved recommender missing from `folder`."""
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{folder} is not a saved Recommender: missing {', '.join(missing)}."
        )


def _import_models():
    """Import keras_hem.models so that its classes are registered for `load_model`."""
    import keras_hem.models  # noqa: F401


def _raise_unknown(users, items):
    """Raise `ValueError` naming user and item ids without training ratings, if any."""
    parts = [
        f"{len(ids)} unknown {kind} id(s) (showing up to {validation.MAX_SHOWN}): "
        + ", ".join(repr(v) for v in ids[: validation.MAX_SHOWN].tolist())
        for kind, ids in (("user", users), ("item", items))
        if len(ids)
    ]
    if parts:
        raise ValueError(
            "; ".join(parts) + ". They have no training ratings; pass strict=False to predict "
            "them with the fallback (item mean, then user mean, then global mean)."
        )
