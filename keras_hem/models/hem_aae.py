"""HEM-AAE: the paper's recommender, wired from the library's parts."""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_hem.arguments import check_choice, check_integer, check_number
from keras_hem.data import RatingMatrix
from keras_hem.data.pipeline import (
    EpochSync,
    RowBatches,
    as_csr,
    density,
    distribution_layout,
    is_dataset,
    is_sparse_batch,
    make_row_batches,
    sparse_rows,
)
from keras_hem.data.row_features import mean_model_features, row_labels
from keras_hem.layers.global_kernel_conv import GlobalKernelConv
from keras_hem.layers.local_kernel_dense import LocalKernelDense
from keras_hem.layers.mean_model import MeanModel
from keras_hem.layers.mean_model_labeler import MeanModelLabeler, observed_values
from keras_hem.layers.output_dense import OutputDense
from keras_hem.mining.protocol import Miner, check_miner
from keras_hem.mining.triplet_hard_miner import TripletHardMiner
from keras_hem.models.adversarial_autoencoder import AdversarialAutoencoder
from keras_hem.ops import (
    gather_columns,
    observed_mask,
    pair_dot,
    sparse_dense_matmul,
    sparse_to_dense,
)
from keras_hem.presets import get_preset
from keras_hem.types import ArrayLike, Rows

ORIENTATIONS = ("item", "user")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid")
MINING_FEATURES = ("mean_model", "codes")
BATCH_FORMATS = ("auto", "dense", "sparse")
RANKING_LOSSES = ("bce", "multinomial")
# `batch_format="auto"` trains on sparse batches below this share of observed entries. Chosen
# by measurement (benchmarks/bench_scale.py, hidden 400, batch 256, 2 CPU cores): a dense step
# took 0.49x a sparse one at 4.5% (ML-1M's shape), 1.12x at 1.3% (ML-10M's) and 2.3x at 0.26%
# (ML-25M's); the two cross near 1.6%.
SPARSE_DENSITY = 0.015
# Rows per chunk when encoding or scoring outside `fit`.
_CHUNK = 4096
# Where a saved model keeps its denoising masks' seed state (see `save_own_variables`).
_DROPOUT_SEED_KEY = "input_dropout_seed_state"
# Ratings per `encode` step: its (ratings, hidden) temporaries stay near 0.4 GB at hidden 400.
_ENTRY_CHUNK = 1 << 18


@keras.saving.register_keras_serializable(package="keras_hem")
class HEMAAE(AdversarialAutoencoder):
    """The HEM-AAE recommender: I-AutoRec trained with hard-example mining and an adversary.

    Samples are items: each is the item's rating vector over all users (I-AutoRec, eqs 7-8),
    0 = unrated. The mean model (eqs 1-3) summarises each item in `2**depth - 1` numbers
    (computed once per `fit` for array inputs, since the rows do not change; per batch for a
    `tf.data.Dataset`); items whose mean rating is above the mean of all training ratings are
    positive, the others negative (`MeanModelLabeler`); the miner picks triplets on the mean-model
    features, and the triplet loss (eq 5) acts on the encoder's codes of those triplets. The
    discriminator tells (anchor, positive) code pairs from (anchor, generated) pairs (eqs
    10-12). See `AdversarialAutoencoder` for the training step.

    The networks are the paper's single-layer ones unless `encoder_units` adds layers (and
    `local_kernel_dim` makes the first a kernelised `LocalKernelDense`):
    encoder `Dense(hidden, activation)`, decoder `Dense(n_users, output_activation)`,
    discriminator `Dense(hidden, activation)` then one logit. `fit` accepts an items x users
    NumPy array, a `scipy.sparse` matrix (densified one batch at a time), a
    `keras_hem.data.RatingMatrix`, or a `tf.data.Dataset` of rows; the first fit adapts the
    labeler to the training ratings.

    Args:
        hidden: code size. The default, 300, was chosen by nested validation on
            MovieLens-100K and -1M together (the docs' benchmarks page); the paper uses 100
            for ML-100K and 400 for ML-1M (`from_preset("paper")`).
        activation: encoder and discriminator activation (the paper: sigmoid).
        output_activation: `"identity"` (default; I-AutoRec's best variant) or `"sigmoid"`
            (the paper's setting; scaled to `rating_scale`).
        rating_scale: `(min, max)` of the ratings; needed by the sigmoid output, inferred from
            the data at the first fit when `None`.
        depth: mean-model depth of the mining features (the paper: 3).
        label_depth: depth of the global tree that labels items (`2**label_depth` classes).
        strategy: mining strategy of the `TripletHardMiner`.
        orientation: `"item"` (samples are items; the paper) or `"user"` (the matrix given to
            `fit` / `predict` is transposed so that samples are users).
        seed: seed of the weight initialisers and of the batch order.
        triplet_margin: margin of the triplet loss on the codes.
        triplet_weight: weight of the triplet loss (chosen by measurement, see the docs).
        adversarial_weight: weight of the generator loss.
        l2: weight decay of eq 9 on the encoder's and decoder's kernels (with the default
            `"sum"` reduction, I-AutoRec's `lambda` per batch; chosen with `hidden`).
        generator_loss: `"non_saturating"` (default, chosen by measurement) or `"saturating"`.
        mining_features: what the miner compares: `"mean_model"` (the paper: mean-model
            features of the ratings) or `"codes"` (the encoder's latent codes; an ablation).
        ranking_weight: weight of an optional ranking head (not in the paper): a second decoder
            from the codes that learns *which* entries are observed. A model trained only to
            reconstruct ratings has never seen which items a user chooses to rate, so it ranks
            poorly over the full catalogue; with `ranking_weight > 0`, `ranking_logits()` /
            `ranking_scores()` give top-N scores. 0 (default) is the paper's model.
        ranking_loss: the head's objective. `"bce"` (default): binary cross-entropy over every
            entry of the batch, averaged. `"multinomial"`: Mult-VAE's multinomial likelihood
            with in-batch negatives: each column (a user, for item rows) is a softmax over the
            batch's rows, and its observed entries are the targets; reduced like the
            reconstruction error (`reconstruction_reduction`). On MovieLens validation slices
            the multinomial head ranks far above popularity and the binary one does not (the
            docs' concepts page).
        ranking_trains_encoder: whether the head's loss also trains the encoder (default).
            `False` stops its gradient at the codes: the head is a read-out of the codes the
            ratings learn, and the ratings train exactly as without a head.
        batch_format: how training and evaluation batches hold the ratings. `"dense"`:
            `(batch, n)` blocks, the decoder evaluated at every entry. `"sparse"`: the
            observed entries only (`keras_hem.data.pipeline.SparseRowBatches`): the encoder
            is a sparse product and the decoder is evaluated at the observed entries alone,
            which is all that eq 9 needs, so a step costs O(ratings x hidden) instead of
            O(rows x n x hidden); its memory is a few arrays of ratings-in-the-batch x
            hidden floats (smaller batches of popular items need less). Same losses and
            gradients. `"auto"` (default) picks sparse
            below `SPARSE_DENSITY` (1.5%) observed entries, where it is the faster (measured),
            unless the model has a ranking head
            (which scores every entry) or runs under a multi-device `keras.distribution`
            (whose devices split dense blocks).
        adversarial_update: `"alternating"` (default; the paper's order) or `"simultaneous"`
            (the generator loss shares the reconstruction phase's gradient step: one encoder
            pass fewer per batch); see `AdversarialAutoencoder`.
        reconstruction_reduction: `"sum"` (default: the squared error summed over the
            batch's observed ratings, as eq 9 and I-AutoRec write it, so `l2` is I-AutoRec's
            `lambda`) or `"mean"` (averaged over them; the library's first setting, with
            `l2=0.001`); see `AdversarialAutoencoder`.
        miner: any object honouring the `keras_hem.mining.Miner` protocol (called as
            `miner(features, labels)`, returning `(anchors, positives, negatives, valid)`);
            `None` (default) uses `TripletHardMiner(triplet_margin, strategy=strategy)`.
            A custom miner must be Keras-serialisable for the model to be saved.
        input_dropout: share of each training row's ratings hidden from the encoder at each
            step (a denoising autoencoder; the kept ratings are scaled by `1 / (1 - p)`). The
            loss still covers every rating of the row, so the model is trained to predict the
            ratings it was not shown; evaluation and prediction see every rating. 0.5
            (default) was chosen on validation slices of MovieLens-100K and -1M (see the
            docs); 0 is the paper's model (`from_preset("paper")`).
        encoder_units: widths of encoder layers before the code layer (`Dense(units,
            activation)` each), e.g. `(500,)` for a two-layer encoder `n -> 500 -> hidden`.
            `()` (default) is the paper's one-layer encoder. Only the first layer reads the
            ratings, so sparse batches stay sparse; `l2` covers every encoder kernel.
        local_kernel_dim: `0` (default) keeps the encoder's first layer (the one that reads
            the ratings) a `Dense` layer; `k >= 1` makes it a `LocalKernelDense` with
            `kernel_dim=k` (GLocal-K's local kernel: 5), whose learnt kernel gates each
            rating-to-unit weight and can switch it off. `l2` covers its `kernel`, not its
            points.
        kernel_sparsity: weight of the local kernel's sparsity penalty,
            `kernel_sparsity / 2 * sum(K**2)`, added to the reconstruction loss as `l2`'s
            term is (GLocal-K's `lambda_s`; default 0). Needs `local_kernel_dim >= 1`.
        global_kernel_size: `0` (default) for none; an odd `k` puts a `GlobalKernelConv`
            of width `k` (GLocal-K: 3) before the encoder. It is the identity until
            `start_global_kernel` sets its statistics (the column means of the model's
            reconstruction), so a model first trains as without it; training on after that
            call is GLocal-K's global-kernel fine-tuning (`Recommender(global_kernel_epochs=
            ...)` runs both stages). The convolution mixes neighbouring entries of a row, so
            batches are dense (`batch_format="sparse"` is refused).
        output_bias_init: `"zeros"` (default; the tables in the docs were measured with it) or
            `"mean"`: the first `fit` starts the decoder's bias at the mean training rating,
            so Adam need not walk it there from 0 (on ML-100K's validation slice: MAE 0.7168
            against 0.7180, early stopping after 60 epochs instead of 100).
        **kwargs: standard `keras.Model` arguments.

    Returns:
        Called on rows, their reconstruction (unclipped predicted ratings).

    Raises:
        ValueError: for bad arguments, and from `fit` / `predict` for NaN, infinite or
            negative ratings, data with no rating, or rows of the wrong width.
        TypeError: from `fit` / `predict` for a ratings table (a DataFrame with one rating
            per row) instead of a rating matrix, or a miner that is not callable.

    Examples:
        >>> import numpy as np
        >>> from keras_hem import HEMAAE
        >>> from keras_hem.datasets.synthetic import low_rank_ratings
        >>> ratings = low_rank_ratings(n_items=60, n_users=40, seed=0)  # items x users
        >>> model = HEMAAE(hidden=16, seed=0)
        >>> model.compile()
        >>> history = model.fit(ratings, epochs=2, batch_size=32, verbose=0)
        >>> model.predict(ratings, verbose=0).shape
        (60, 40)
    """

    def __init__(
        self,
        hidden: int = 300,
        activation: str = "sigmoid",
        output_activation: str = "identity",
        rating_scale: tuple[float, float] | None = None,
        depth: int = 3,
        label_depth: int = 1,
        strategy: str = "batch_hard",
        orientation: str = "item",
        seed: int | None = None,
        triplet_margin: float = 1.0,
        triplet_weight: float = 0.1,
        adversarial_weight: float = 0.1,
        l2: float = 5.0,
        generator_loss: str = "non_saturating",
        mining_features: str = "mean_model",
        ranking_weight: float = 0.0,
        ranking_loss: str = "bce",
        ranking_trains_encoder: bool = True,
        output_bias_init: str = "zeros",
        miner: Miner | None = None,
        adversarial_update: str = "alternating",
        batch_format: str = "auto",
        reconstruction_reduction: str = "sum",
        input_dropout: float = 0.5,
        encoder_units: Sequence[int] = (),
        local_kernel_dim: int = 0,
        kernel_sparsity: float = 0.0,
        global_kernel_size: int = 0,
        **kwargs,
    ):
        check_choice("batch_format", batch_format, BATCH_FORMATS)
        encoder_units = _check_units("encoder_units", encoder_units)
        local_kernel_dim = check_integer("local_kernel_dim", local_kernel_dim, minimum=0)
        kernel_sparsity = check_number("kernel_sparsity", kernel_sparsity, finite=True)
        if kernel_sparsity > 0 and local_kernel_dim == 0:
            raise ValueError(
                f"kernel_sparsity={kernel_sparsity!r} penalises a local kernel, but "
                "local_kernel_dim=0 builds none; pass local_kernel_dim >= 1 (e.g. 5)."
            )
        global_kernel_size = check_integer("global_kernel_size", global_kernel_size, minimum=0)
        if global_kernel_size % 2 == 0 and global_kernel_size > 0:
            raise ValueError(
                "`global_kernel_size` must be 0 or odd (the kernel needs a centre), got "
                f"global_kernel_size={global_kernel_size!r}."
            )
        if batch_format == "sparse" and global_kernel_size:
            raise ValueError(
                f"batch_format='sparse' cannot feed the global kernel (global_kernel_size="
                f"{global_kernel_size!r}), which convolves whole rows; use 'dense' or 'auto'."
            )
        if not (
            isinstance(input_dropout, numbers.Real)
            and not isinstance(input_dropout, bool)
            and 0 <= input_dropout < 1
        ):
            raise ValueError(
                f"`input_dropout` must be a number in [0, 1), got input_dropout={input_dropout!r}."
            )
        if batch_format == "sparse" and ranking_weight > 0:
            raise ValueError(
                "batch_format='sparse' cannot train the ranking head (ranking_weight="
                f"{ranking_weight!r}), whose loss covers every entry; use 'dense' or 'auto'."
            )
        if output_bias_init not in ("zeros", "mean"):
            raise ValueError(
                "`output_bias_init` must be 'zeros' or 'mean', "
                f"got output_bias_init={output_bias_init!r}."
            )
        check_choice("mining_features", mining_features, MINING_FEATURES)
        check_choice("ranking_loss", ranking_loss, RANKING_LOSSES)
        if not ranking_weight >= 0:
            raise ValueError(
                f"`ranking_weight` must be >= 0, got ranking_weight={ranking_weight!r}."
            )
        check_integer("hidden", hidden, minimum=1)
        check_choice("output_activation", output_activation, OUTPUT_ACTIVATIONS)
        check_choice("orientation", orientation, ORIENTATIONS)
        if rating_scale is not None and not (
            len(rating_scale) == 2 and rating_scale[0] < rating_scale[1]
        ):
            raise ValueError(
                f"`rating_scale` must be (min, max) with min < max, got {rating_scale!r}."
            )
        super().__init__(
            encoder=None,
            decoder=None,
            discriminator=None,
            labeler=MeanModelLabeler(label_depth=label_depth, name="labeler"),
            miner=(
                TripletHardMiner(triplet_margin, strategy=strategy)
                if miner is None
                else check_miner(miner)
            ),
            feature_layer=(
                MeanModel(depth=depth, name="mean_model")
                if mining_features == "mean_model"
                else None
            ),
            triplet_margin=triplet_margin,
            triplet_weight=triplet_weight,
            adversarial_weight=adversarial_weight,
            l2=l2,
            generator_loss=generator_loss,
            adversarial_update=adversarial_update,
            reconstruction_reduction=reconstruction_reduction,
            **kwargs,
        )
        self.hidden = hidden
        self.activation = activation
        self.output_activation = output_activation
        self.rating_scale = None if rating_scale is None else tuple(float(v) for v in rating_scale)
        self.depth = depth
        self.label_depth = label_depth
        self.strategy = strategy
        self.orientation = orientation
        self.seed = seed
        self.mining_features = mining_features
        self.output_bias_init = output_bias_init
        self.ranking_weight = float(ranking_weight)
        self.ranking_loss = ranking_loss
        self.ranking_trains_encoder = bool(ranking_trains_encoder)
        self.custom_miner = miner is not None
        self.batch_format = batch_format
        self.input_dropout = float(input_dropout)
        self.encoder_units = encoder_units
        self.local_kernel_dim = local_kernel_dim
        self.kernel_sparsity = kernel_sparsity
        self.global_kernel_size = global_kernel_size
        self.observation_decoder = None
        self._dropout_seed = None

    def build(self, input_shape: tuple | dict) -> None:
        n = input_shape[-1]
        if self.output_activation == "sigmoid" and self.rating_scale is None:
            raise ValueError("output_activation='sigmoid' needs `rating_scale`; fit sets it.")
        # The code layer keeps seed offset 0 whatever comes before it, so that the one-layer
        # model draws the weights it always did; the extra layers take offsets from 10.
        offsets = [10 + i for i in range(len(self.encoder_units))] + [0]
        units = [*self.encoder_units, self.hidden]
        layers = [self._dense(u, self.activation, offset) for u, offset in zip(units, offsets)]
        if self.local_kernel_dim:
            # Only the layer that reads the ratings: it holds the model's n x units weights.
            layers[0] = self._dense(units[0], self.activation, offsets[0], layer=LocalKernelDense)
        if self.global_kernel_size:
            # No random draws: the seeds of the layers after it are unchanged.
            conv = GlobalKernelConv(
                self.global_kernel_size, dtype=self.dtype_policy, name="global_kernel"
            )
            layers.insert(0, conv)
        self.encoder = keras.Sequential([keras.Input((n,)), *layers], name="encoder")
        decoder_layers = [keras.Input((self.hidden,))]
        if self.output_activation == "sigmoid":
            low, high = self.rating_scale
            decoder_layers += [
                self._dense(n, "sigmoid", 1, dtype="float32", layer=OutputDense),
                keras.layers.Rescaling(high - low, offset=low, dtype="float32"),
            ]
        else:
            # Predicted ratings stay float32 under mixed precision (float16 has 3 digits).
            decoder_layers.append(self._dense(n, None, 1, dtype="float32", layer=OutputDense))
        self.decoder = keras.Sequential(decoder_layers, name="decoder")
        self.discriminator = keras.Sequential(
            [
                keras.Input((2 * self.hidden,)),
                self._dense(self.hidden, self.activation, 2),
                self._dense(1, None, 3),
            ],
            name="discriminator",
        )
        if self.input_dropout > 0:
            self._dropout_seed = keras.random.SeedGenerator(
                None if self.seed is None else self.seed + 5, name="input_dropout_seed"
            )
        if self.ranking_weight > 0:
            self.observation_decoder = keras.Sequential(
                [keras.Input((self.hidden,)), self._dense(n, None, 4, dtype="float32")],
                name="observation_decoder",
            )
        super().build(input_shape)

    # -- the ranking head -------------------------------------------------------------------

    def _auxiliary_variables(self):
        if self.observation_decoder is None:
            return []
        return self.observation_decoder.trainable_variables

    def _auxiliary_loss(self, x, codes, training):
        return self._sparsity_penalty() + self._ranking_loss(x, codes, training)

    def _sparsity_penalty(self):
        if self.kernel_sparsity == 0:
            return 0.0
        return (
            self.kernel_sparsity / 2 * ops.cast(self._rating_layer().kernel_sparsity(), "float32")
        )

    def _rating_layer(self):
        """The encoder's layer that reads the ratings (after the global kernel, if any)."""
        return self.encoder.layers[1 if self.global_kernel_size else 0]

    def _ranking_loss(self, x, codes, training):
        # Which entries are observed at all: binary cross-entropy over every entry of the batch.
        if self.observation_decoder is None:
            return 0.0
        if not self.ranking_trains_encoder:
            # The head reads the codes without shaping them: the ratings train as without it.
            codes = ops.stop_gradient(codes)
        logits = ops.cast(self.observation_decoder(codes, training=training), "float32")
        observed = ops.cast(observed_mask(x, self.missing_value), "float32")
        if self.ranking_loss == "bce":
            loss = ops.binary_crossentropy(observed, logits, from_logits=True)
            return self.ranking_weight * ops.mean(loss)
        return self.ranking_weight * self._multinomial_loss(observed, logits)

    def _multinomial_loss(self, observed, logits):
        # Each column (a user, for item rows) is a multinomial over the batch's rows: the
        # batch is a uniform sample of the rows, so this is a sampled softmax over items
        # (Mult-VAE's likelihood with in-batch negatives). The columns' biases cancel.
        log_p = logits - ops.logsumexp(logits, axis=0, keepdims=True)
        loss = -ops.sum(observed * log_p)
        if self.reconstruction_reduction == "sum":
            # Same units as the summed squared error: one term per observed entry.
            return loss * self._replicas()
        return loss / ops.maximum(ops.sum(observed), 1.0)

    def ranking_scores(
        self, x: Rows | RatingMatrix, batch_size: int | None = None, **kwargs
    ) -> np.ndarray:
        """The ranking head's scores of rows `x`: the sigmoid of its logits (`ranking_weight > 0`).

        With `ranking_loss="bce"` they are the probabilities that entries are observed; with
        `"multinomial"` only their order within a column (a user, for item rows) means
        anything.

        Args:
            x: rows as for `predict`.
            batch_size: rows per batch.
            **kwargs: `keras.Model.predict` arguments (`verbose`, ...).

        Returns:
            float32 array of the shape `predict` returns.

        Raises:
            ValueError: if the model has no ranking head.
        """
        if self.observation_decoder is None:
            raise ValueError(
                "ranking_scores() needs a ranking head: build with ranking_weight > 0."
            )
        x = self._rows(x, "x")
        self._ensure_built(x)
        head = keras.Sequential(
            [self.encoder, self.observation_decoder, keras.layers.Activation("sigmoid")]
        )
        batches = make_row_batches(x, batch_size=batch_size or 1024, training=False)
        out = head.predict(batches, **kwargs)[: x.shape[0]]
        return out.T if self.orientation == "user" else out

    def _dense(self, units, activation, offset, dtype=None, layer=keras.layers.Dense):
        seed = None if self.seed is None else self.seed + offset
        extra = {}
        if layer is LocalKernelDense:
            # The points take seeds of their own (seed + 20 + offset and the next one).
            points_seed = None if seed is None else seed + 20
            extra = {"kernel_dim": self.local_kernel_dim, "seed": points_seed}
        return layer(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            # The model's own policy (`HEMAAE(dtype="mixed_float16")`), which is the global
            # one unless the model was given another.
            dtype=self.dtype_policy if dtype is None else dtype,
            **extra,
        )

    # -- sparse batches ---------------------------------------------------------------------

    def _encode(self, x, training):
        if training and self.input_dropout > 0:
            x = self._drop_ratings(x)
        if is_sparse_batch(x) and self.global_kernel_size:
            # The convolution needs whole rows.
            n_rows, width = ops.shape(x["row_counts"])[0], self.encoder.input_shape[-1]
            x = sparse_to_dense(x["row_ids"], x["columns"], x["values"], n_rows, width)
        if not is_sparse_batch(x):
            return super()._encode(x, training)
        # The encoder's first Dense layer as a sparse product: sum of kernel rows weighted by
        # ratings; the layers after it see dense (rows, units) blocks.
        first, *rest = self.encoder.layers
        dtype = first.compute_dtype
        n_rows = ops.shape(x["row_counts"])[0]
        weights = first.effective_kernel() if self.local_kernel_dim else first.kernel
        kernel = ops.cast(weights, dtype)
        product = sparse_dense_matmul(x["row_ids"], x["columns"], x["values"], kernel, n_rows)
        codes = first.activation(product + ops.cast(first.bias, dtype))
        for layer in rest:
            codes = layer(codes, training=training)
        return codes

    def _drop_ratings(self, x):
        """The input with each rating zeroed with probability `input_dropout` (denoising).

        The kept ones are scaled by 1 / (1 - rate), as `keras.layers.Dropout` does; the
        targets keep every rating, so the model learns to predict the ones it did not see.
        """
        if not is_sparse_batch(x):
            return keras.random.dropout(x, self.input_dropout, seed=self._dropout_seed)
        values = keras.random.dropout(x["values"], self.input_dropout, seed=self._dropout_seed)
        return {**x, "values": values}

    def save_own_variables(self, store):
        """Save the model's own variables and the denoising masks' seed state.

        Keras leaves seed generators out of a saved model; a fit resumed from a checkpoint
        must draw the masks an uninterrupted fit would, so their state is saved too.

        Args:
            store: dict-like store of the saved model's variables.
        """
        super().save_own_variables(store)
        if self._dropout_seed is not None:
            store[_DROPOUT_SEED_KEY] = self._dropout_seed.state

    def load_own_variables(self, store):
        """Load what `save_own_variables` saved (older files keep the initial seed state).

        Args:
            store: dict-like store of the saved model's variables.
        """
        keys = list(store.keys())
        if _DROPOUT_SEED_KEY in keys and self._dropout_seed is not None:
            self._dropout_seed.state.assign(np.asarray(store[_DROPOUT_SEED_KEY]))
        super().load_own_variables({key: store[key] for key in keys if key != _DROPOUT_SEED_KEY})

    def _decode_at(self, codes, target, training):
        if not is_sparse_batch(target):
            return super()._decode_at(codes, target, training)
        predicted = self._decode_entries(codes, target["row_ids"], target["columns"])
        return target["values"], predicted

    def _decode_entries(self, codes, rows, columns):
        """The decoder's output at entries `(rows, columns)` only (`rows` index `codes`)."""
        layer = self.decoder.layers[0]
        codes = ops.cast(codes, layer.compute_dtype)
        logits = pair_dot(codes, rows, layer.kernel, columns) + ops.take(layer.bias, columns)
        return self._finish_decoder(layer.activation(logits))

    def _finish_decoder(self, values):
        # The layers after the output Dense (the sigmoid's rescaling) act entry by entry.
        for layer in self.decoder.layers[1:]:
            values = layer(values)
        return ops.cast(values, "float32")

    def uses_sparse_batches(self, rows: Rows) -> bool:
        """Whether `fit` and `evaluate` batch `rows` sparsely (see `batch_format`).

        Args:
            rows: the rows as given to `fit` (a matrix in the model's orientation).

        Returns:
            bool.

        Raises:
            ValueError: for `batch_format="sparse"` under several replicas or devices.
        """
        replicated = self._replicas() > 1 or distribution_layout()[2] > 1
        if self.batch_format == "sparse" and replicated:
            raise ValueError(
                "batch_format='sparse' cannot split its batches between replicas or devices "
                "(their entry lists have no per-device layout); use 'dense' or 'auto'."
            )
        if self.batch_format != "auto":
            return self.batch_format == "sparse"
        return (
            self.observation_decoder is None
            and not self.global_kernel_size
            and not replicated
            and density(rows) < SPARSE_DENSITY
        )

    # -- scoring parts of the matrix (bounded memory) --------------------------------------

    def encode(self, x: Rows | RatingMatrix, batch_size: int | None = None) -> np.ndarray:
        """The latent codes of rows `x`, computed from their observed entries.

        Args:
            x: rows in the model's orientation (items x users for `orientation="item"`): a
                NumPy array, `scipy.sparse` matrix or `RatingMatrix`, as for `fit`.
            batch_size: at most this many rows per step (default 4096). A step also holds
                at most 2**18 ratings (or one row, if a row has more), since its memory grows
                with its ratings times `hidden`, not with its width.

        Returns:
            float32 NumPy array `(n_rows, hidden)`.
        """
        rows = as_csr(self._rows(x, "x", orient=False))
        self._ensure_built(rows)
        codes = [
            ops.convert_to_numpy(self._encode(sparse_rows(rows, np.arange(a, b)), False))
            for a, b in _row_chunks(rows.indptr, batch_size or _CHUNK, _ENTRY_CHUNK)
        ]
        if not codes:
            return np.zeros((0, self.hidden), "float32")
        return np.concatenate(codes).astype("float32")

    def decode(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """Reconstructed ratings (unclipped) of `codes` at some columns, or all of them.

        Args:
            codes: `(n, hidden)` codes from `encode`.
            columns: optional int array of column indices (users, for item rows).

        Returns:
            float32 NumPy array `(n, len(columns))` (`(n, n_columns)` without `columns`).
        """
        layer = self.decoder.layers[0]
        columns = None if columns is None else np.asarray(columns, "int32")
        codes = ops.cast(codes, layer.compute_dtype)
        logits = gather_columns(codes, layer.kernel, columns)
        bias = layer.bias if columns is None else ops.take(layer.bias, columns)
        return ops.convert_to_numpy(self._finish_decoder(layer.activation(logits + bias)))

    def decode_pairs(self, codes: ArrayLike, columns: ArrayLike) -> np.ndarray:
        """Reconstructed ratings (unclipped) of one `(code, column)` pair per entry.

        Args:
            codes: `(p, hidden)` codes, one per pair (e.g. `encode(...)[item_indices]`).
            columns: int array `(p,)`, the column of each pair.

        Returns:
            float32 NumPy array `(p,)`.
        """
        rows = np.arange(len(codes), dtype="int32")
        return ops.convert_to_numpy(self._decode_entries(codes, rows, np.asarray(columns, "int32")))

    def ranking_logits(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """The ranking head's logits at entries of `encode`'s codes (`ranking_weight > 0`).

        With `ranking_loss="bce"` they are log-odds that an entry is observed; with
        `"multinomial"`, the log-probabilities over rows up to one constant per column: for
        item rows, a user's items rank in the order of their logits either way.

        Args:
            codes: `(n, hidden)` codes.
            columns: optional int array of column indices.

        Returns:
            float32 NumPy array `(n, len(columns))` (`(n, n_columns)` without `columns`).

        Raises:
            ValueError: if the model has no ranking head.
        """
        if self.observation_decoder is None:
            raise ValueError(
                "The ranking head's scores need a ranking head: build with ranking_weight > 0."
            )
        layer = self.observation_decoder.layers[0]
        columns = None if columns is None else np.asarray(columns, "int32")
        # A Dense kernel is (hidden, n): its transpose has one row per column.
        kernel = ops.transpose(layer.kernel)
        logits = gather_columns(ops.cast(codes, "float32"), kernel, columns)
        bias = layer.bias if columns is None else ops.take(layer.bias, columns)
        return ops.convert_to_numpy(logits + bias)

    def observation_scores(self, codes: ArrayLike, columns: ArrayLike | None = None) -> np.ndarray:
        """The sigmoid of `ranking_logits` (for `ranking_loss="bce"`: P(entry observed)).

        Args:
            codes: `(n, hidden)` codes.
            columns: optional int array of column indices.

        Returns:
            float32 NumPy array `(n, len(columns))`.

        Raises:
            ValueError: if the model has no ranking head.
        """
        logits = self.ranking_logits(codes, columns)
        return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)

    # -- data handling ----------------------------------------------------------------------

    def _rows(self, data, name, orient=True):
        """Rows as a NumPy array or CSR matrix in the model's orientation, validated.

        `orient=False`: `data` is in the model's orientation already (its own rows).
        """
        if data is None or is_dataset(data):
            return data
        if hasattr(data, "to_item_user_csr"):  # RatingMatrix
            data = data.to_item_user_csr()
        if hasattr(data, "columns") and hasattr(data, "iloc"):  # a pandas DataFrame
            raise TypeError(
                f"`{name}` is a DataFrame, but HEMAAE takes an items x users rating matrix. "
                "For a ratings table (one rating per row), use keras_hem.recommender."
                "Recommender, or RatingMatrix.from_dataframe(table).to_item_user_csr()."
            )
        if not hasattr(data, "tocsr"):
            data = np.asarray(data, dtype="float32")
            if data.ndim != 2:
                raise ValueError(f"`{name}` must be a 2-D rating matrix, got shape {data.shape}.")
        if self.orientation == "user" and orient:
            data = data.T
        _validate_ratings(data, name)
        if self.built and data.shape[1] != self.encoder.input_shape[-1]:
            raise ValueError(
                f"`{name}` rows have {data.shape[1]} entries, but the model was built for "
                f"{self.encoder.input_shape[-1]}."
            )
        return data.tocsr() if hasattr(data, "tocsr") else data

    def fit(
        self,
        x: Rows | Any = None,
        y: None = None,
        batch_size: int | None = None,
        epochs: int = 1,
        validation_data: Rows | Any = None,
        **kwargs: Any,
    ) -> keras.callbacks.History:
        """Trains the model; see `keras.Model.fit`. `x`: items x users ratings (see class doc).

        `validation_data` may be `(inputs, targets)`: rows to encode and the held-out ratings
        to score on (logged as `val_mae`, `val_rmse`, ...).
        """
        x, y = self._rows(x, "x"), self._rows(y, "y")
        first_fit = not self.labeler.is_adapted
        if first_fit:
            self._adapt(x)
        self._ensure_built(x)
        if first_fit and self.output_bias_init == "mean":
            self._centre_output_bias()
        shuffle = kwargs.pop("shuffle", True)
        sparse = False
        if is_dataset(x):
            shuffle = False  # a dataset's own order is kept, as Keras does
        else:
            batch_size = batch_size or 256
            n_rows = x.shape[0]
            sparse = self.uses_sparse_batches(x)
            x = make_row_batches(
                x,
                y,
                batch_size,
                shuffle,
                self.seed or 0,
                self._mining_inputs(x),
                first_epoch=kwargs.get("initial_epoch", 0),
                sparse=sparse,
            )
            if isinstance(x, RowBatches):
                callbacks = [*(kwargs.pop("callbacks", None) or []), EpochSync(x)]
                kwargs["callbacks"] = callbacks
            elif shuffle and kwargs.get("steps_per_epoch") is None:
                # The shuffled tf.data batches run on through the epochs (see row_dataset).
                kwargs["steps_per_epoch"] = -(-n_rows // batch_size)
            y, batch_size, shuffle = None, None, False  # the batches shuffle themselves
        if validation_data is not None and not is_dataset(validation_data):
            inputs, targets = (
                validation_data if isinstance(validation_data, tuple) else (validation_data, None)
            )
            inputs = self._rows(inputs, "validation inputs")
            validation_data = make_row_batches(
                inputs,
                self._rows(targets, "validation targets"),
                kwargs.pop("validation_batch_size", None) or 1024,
                extras=self._mining_inputs(inputs),
                training=False,
                sparse=sparse or self.uses_sparse_batches(inputs),
            )
        return super().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            validation_data=validation_data,
            shuffle=shuffle,
            **kwargs,
        )

    def _mining_inputs(self, rows):
        """Labels (and mean-model features) of every row, computed once per fit, not per batch.

        Codes change with every step, so mining on codes leaves the features to the step.
        """
        if self.miner is None or (self.triplet_weight == 0 and self.adversarial_weight == 0):
            return None
        # From the CSR entries: O(ratings x depth), never a dense (rows, n) block.
        thresholds = keras.ops.convert_to_numpy(self.labeler.thresholds)
        inputs = {"labels": row_labels(rows, thresholds)}
        if self.feature_layer is not None:
            inputs["features"] = mean_model_features(
                rows, self.feature_layer.depth, self.feature_layer.fill_value
            )
        return inputs

    def _ensure_built(self, x):
        if self.built:
            return
        if isinstance(x, keras.utils.PyDataset):
            first = x[0]
            first = first[0] if isinstance(first, tuple) else first
            width = (first["ratings"] if isinstance(first, dict) else first).shape[-1]
        elif is_dataset(x):
            spec = x.element_spec
            width = (spec[0] if isinstance(spec, tuple) else spec).shape[-1]
        else:
            width = x.shape[1]
        # Variables must be created under the strategy the model was created in (TF trainer).
        strategy = getattr(self, "distribute_strategy", None)
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.build((None, int(width)))

    def _adapt(self, x):
        if is_dataset(x):
            # Keep only each batch's observed ratings, never the dense rows of the whole dataset.
            batches = (np.asarray(b[0] if isinstance(b, tuple) else b) for b in x)
            values = np.concatenate([observed_values(b, self.missing_value) for b in batches])
        else:
            values = observed_values(x, self.missing_value)
        self.labeler.adapt(values)
        if self.rating_scale is None and self.output_activation == "sigmoid":
            self.rating_scale = (float(np.min(values)), float(np.max(values)))
        self._rating_mean = float(np.mean(values))

    def _centre_output_bias(self):
        """Start the decoder at the mean training rating instead of 0 (before the activation)."""
        value = self._rating_mean
        if self.output_activation == "sigmoid":
            low, high = self.rating_scale
            p = np.clip((value - low) / (high - low), 1e-3, 1 - 1e-3)
            value = float(np.log(p / (1 - p)))
        output = self.decoder.layers[0]
        output.bias.assign(np.full(output.bias.shape, value, "float32"))

    def start_global_kernel(self, x: Rows | RatingMatrix, batch_size: int | None = None) -> None:
        """Set the global kernel's statistics from the model's reconstruction of `x`.

        The statistics are the mean of the reconstruction over the rows, one per column
        (GLocal-K pools the pre-trained model's output the same way, over the other axis).
        The kernel's learnt weights are still 0, so the model's outputs do not change; a
        later `fit` trains them with the rest of the model (the fine-tuning stage). Call it
        once, after the first training stage.

        Args:
            x: the training rows, as for `fit`.
            batch_size: rows per prediction batch.

        Raises:
            ValueError: if the model has no global kernel (`global_kernel_size=0`) or has
                not been fitted.
        """
        if not self.global_kernel_size:
            raise ValueError(
                "start_global_kernel() needs a global kernel: build with global_kernel_size "
                "> 0 (e.g. 3)."
            )
        if not self.labeler.is_adapted:
            raise ValueError("start_global_kernel() follows a first fit; the model is unfitted.")
        rows = self.predict(x, batch_size=batch_size, verbose=0)
        if self.orientation == "user":
            rows = rows.T
        self.encoder.layers[0].set_statistics(rows.mean(axis=0))

    def predict(
        self, x: Rows | RatingMatrix, batch_size: int | None = None, **kwargs
    ) -> np.ndarray:
        """Reconstructed ratings (unclipped) for rows `x`, in the orientation given to `fit`."""
        x = self._rows(x, "x")
        self._ensure_built(x)
        if not is_dataset(x):
            n_rows = x.shape[0]
            x = make_row_batches(x, batch_size=batch_size or 1024, training=False)
            out = super().predict(x, **kwargs)[:n_rows]  # without any padding rows
        else:
            out = super().predict(x, **kwargs)
        return out.T if self.orientation == "user" else out

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        """Evaluates on rows `x` against targets `y` (default: `x`); see `keras.Model.evaluate`."""
        x, y = self._rows(x, "x"), self._rows(y, "y")
        self._ensure_built(x)
        if not is_dataset(x):
            extras = self._mining_inputs(x)
            sparse = self.uses_sparse_batches(x)
            x = make_row_batches(
                x, y, batch_size or 1024, extras=extras, training=False, sparse=sparse
            )
            y = None
        return super().evaluate(x, y, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        # The networks, the labeler, the mean model and the default miner are built from the
        # settings below, so they are not saved as objects of their own.
        for key in ("encoder", "decoder", "discriminator", "labeler", "feature_layer", "miner"):
            config.pop(key)
        config.update(
            hidden=self.hidden,
            activation=self.activation,
            output_activation=self.output_activation,
            rating_scale=self.rating_scale,
            depth=self.depth,
            label_depth=self.label_depth,
            strategy=self.strategy,
            orientation=self.orientation,
            seed=self.seed,
            mining_features=self.mining_features,
            output_bias_init=self.output_bias_init,
            ranking_weight=self.ranking_weight,
            ranking_loss=self.ranking_loss,
            ranking_trains_encoder=self.ranking_trains_encoder,
            batch_format=self.batch_format,
            input_dropout=self.input_dropout,
            encoder_units=list(self.encoder_units),
            local_kernel_dim=self.local_kernel_dim,
            kernel_sparsity=self.kernel_sparsity,
            global_kernel_size=self.global_kernel_size,
        )
        if self.custom_miner:
            config["miner"] = keras.saving.serialize_keras_object(self.miner)
        return config

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> HEMAAE:
        """Create a model from a named preset's network settings (`keras_hem.presets`).

        The preset's `hidden` and `model_kwargs` are used; its training settings (epochs,
        batch size, ranking) belong to `keras_hem.recommender.Recommender.from_preset`.

        Args:
            preset: `"default"` or `"paper"` (pass `hidden=100` for MovieLens-100K).
            **overrides: `HEMAAE` arguments that replace the preset's.

        Returns:
            A new, unbuilt `HEMAAE`.

        Raises:
            ValueError: for an unknown preset or a malformed argument.

        Examples:
            >>> model = HEMAAE.from_preset("paper", hidden=100)
            >>> model.hidden, model.output_activation, model.reconstruction_reduction
            (100, 'sigmoid', 'mean')
        """
        settings = get_preset(preset)
        kwargs = dict(settings.get("model_kwargs", {}))
        if "hidden" in settings:
            kwargs["hidden"] = settings["hidden"]
        return cls(**{**kwargs, **overrides})

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("miner") is not None:
            config["miner"] = keras.saving.deserialize_keras_object(config["miner"])
        return cls(**config)


def _check_units(name, units):
    """`units` as a tuple of positive ints (layer widths), or a ValueError naming it."""
    if isinstance(units, (str, bytes)) or not isinstance(units, (Sequence, np.ndarray)):
        raise ValueError(
            f"`{name}` must be a sequence of positive integers (layer widths), got {units!r}."
        )
    return tuple(check_integer(f"{name}[{i}]", u, minimum=1) for i, u in enumerate(units))


def _validate_ratings(data, name):
    values = data.data if hasattr(data, "tocsr") else data
    finite = np.isfinite(values)
    if not finite.all():
        if hasattr(data, "tocsr"):
            coo = data.tocoo()
            bad = list(zip(coo.row[~finite].tolist(), coo.col[~finite].tolist()))
        else:
            bad = [tuple(p) for p in np.argwhere(~finite).tolist()]
        raise ValueError(
            f"`{name}` holds {len(bad)} NaN or infinite ratings, e.g. at (row, column) "
            f"{bad[:5]}. Use 0 for unobserved entries."
        )
    if (values < 0).any():
        raise ValueError(
            f"`{name}` holds {int((values < 0).sum())} negative rating(s); ratings must be > 0 "
            "(0 marks an unobserved entry). Shift the scale, e.g. ratings - min + 1."
        )
    observed = data.count_nonzero() if hasattr(data, "count_nonzero") else np.count_nonzero(data)
    if observed == 0:
        raise ValueError(f"`{name}` holds no rating (every entry is 0 = unobserved).")


def _row_chunks(indptr, max_rows, max_entries):
    """`(start, stop)` row ranges of a CSR matrix, in order, covering every row.

    Each range holds at most `max_rows` rows and `max_entries` stored entries; a row with more
    entries than that is a range of its own.
    """
    n_rows = len(indptr) - 1
    start = 0
    while start < n_rows:
        # The last row whose end stays within the entry budget counted from `start`.
        stop = int(np.searchsorted(indptr, indptr[start] + max_entries, side="right")) - 1
        stop = min(max(stop, start + 1), start + max_rows, n_rows)
        yield start, stop
        start = stop
