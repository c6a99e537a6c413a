"""HEM-AAE: the paper's recommender, wired from the library's parts."""

import contextlib

import keras
import numpy as np

from keras_hem.data.pipeline import EpochSync, RowBatches, is_dataset, make_row_batches
from keras_hem.layers.mean_model import MeanModel
from keras_hem.layers.mean_model_labeler import MeanModelLabeler, observed_values
from keras_hem.mining.protocol import check_miner
from keras_hem.mining.triplet_hard_miner import TripletHardMiner
from keras_hem.models.adversarial_autoencoder import AdversarialAutoencoder

ORIENTATIONS = ("item", "user")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid")
MINING_FEATURES = ("mean_model", "codes")


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

    The networks are the paper's single-layer ones: encoder `Dense(hidden, activation)`,
    decoder `Dense(n_users, output_activation)`, discriminator `Dense(hidden, activation)`
    then one logit. `fit` accepts an items x users NumPy array, a `scipy.sparse` matrix
    (densified one batch at a time), a `keras_hem.data.RatingMatrix`, or a `tf.data.Dataset`
    of rows; the first fit adapts the labeler to the training ratings.

    Args:
        hidden: code size (the paper: 100 for ML-100K, 400 for ML-1M).
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
        l2: weight decay of eq 9 on the encoder's and decoder's kernels.
        generator_loss: `"non_saturating"` (default, chosen by measurement) or `"saturating"`.
        mining_features: what the miner compares: `"mean_model"` (the paper: mean-model
            features of the ratings) or `"codes"` (the encoder's latent codes; an ablation).
        ranking_weight: weight of an optional ranking head (not in the paper): a second decoder
            from the codes that predicts *which* entries are observed (binary cross-entropy over
            every entry). A model trained only to reconstruct ratings has never seen which items
            a user chooses to rate, so it ranks poorly over the full catalogue; with
            `ranking_weight > 0`, `ranking_scores()` gives top-N scores. 0 (default) is the
            paper's model.
        adversarial_update: `"alternating"` (default; the paper's order) or `"simultaneous"`
            (the generator loss shares the reconstruction phase's gradient step: one encoder
            pass fewer per batch); see `AdversarialAutoencoder`.
        miner: any object honouring the `keras_hem.mining.Miner` protocol (called as
            `miner(features, labels)`, returning `(anchors, positives, negatives, valid)`);
            `None` (default) uses `TripletHardMiner(triplet_margin, strategy=strategy)`.
            A custom miner must be Keras-serialisable for the model to be saved.
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
        hidden=400,
        activation="sigmoid",
        output_activation="identity",
        rating_scale=None,
        depth=3,
        label_depth=1,
        strategy="batch_hard",
        orientation="item",
        seed=None,
        triplet_margin=1.0,
        triplet_weight=0.1,
        adversarial_weight=0.1,
        l2=0.001,
        generator_loss="non_saturating",
        mining_features="mean_model",
        ranking_weight=0.0,
        output_bias_init="zeros",
        miner=None,
        adversarial_update="alternating",
        **kwargs,
    ):
        if output_bias_init not in ("zeros", "mean"):
            raise ValueError(
                "`output_bias_init` must be 'zeros' or 'mean', "
                f"got output_bias_init={output_bias_init!r}."
            )
        if mining_features not in MINING_FEATURES:
            raise ValueError(
                f"`mining_features` must be one of {MINING_FEATURES}, "
                f"got mining_features={mining_features!r}."
            )
        if not ranking_weight >= 0:
            raise ValueError(
                f"`ranking_weight` must be >= 0, got ranking_weight={ranking_weight!r}."
            )
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"`hidden` must be a positive integer, got hidden={hidden!r}.")
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"`output_activation` must be one of {OUTPUT_ACTIVATIONS}, "
                f"got output_activation={output_activation!r}."
            )
        if orientation not in ORIENTATIONS:
            raise ValueError(
                f"`orientation` must be one of {ORIENTATIONS}, got orientation={orientation!r}."
            )
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
        self.custom_miner = miner is not None
        self.observation_decoder = None

    def build(self, input_shape):
        n = input_shape[-1]
        if self.output_activation == "sigmoid" and self.rating_scale is None:
            raise ValueError("output_activation='sigmoid' needs `rating_scale`; fit sets it.")
        self.encoder = keras.Sequential(
            [keras.Input((n,)), self._dense(self.hidden, self.activation, 0)], name="encoder"
        )
        decoder_layers = [keras.Input((self.hidden,))]
        if self.output_activation == "sigmoid":
            low, high = self.rating_scale
            decoder_layers += [
                self._dense(n, "sigmoid", 1, dtype="float32"),
                keras.layers.Rescaling(high - low, offset=low, dtype="float32"),
            ]
        else:
            # Predicted ratings stay float32 under mixed precision (float16 has 3 digits).
            decoder_layers.append(self._dense(n, None, 1, dtype="float32"))
        self.decoder = keras.Sequential(decoder_layers, name="decoder")
        self.discriminator = keras.Sequential(
            [
                keras.Input((2 * self.hidden,)),
                self._dense(self.hidden, self.activation, 2),
                self._dense(1, None, 3),
            ],
            name="discriminator",
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
        # Which entries are observed at all: binary cross-entropy over every entry of the batch.
        if self.observation_decoder is None:
            return 0.0
        logits = self.observation_decoder(codes, training=training)
        observed = keras.ops.cast(keras.ops.not_equal(x, 0.0), "float32")
        loss = keras.ops.binary_crossentropy(observed, logits, from_logits=True)
        return self.ranking_weight * keras.ops.mean(loss)

    def ranking_scores(self, x, batch_size=None, **kwargs):
        """Probability that each entry is observed, from the ranking head (`ranking_weight > 0`).

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

    def _dense(self, units, activation, offset, dtype=None):
        seed = None if self.seed is None else self.seed + offset
        return keras.layers.Dense(
            units,
            activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            dtype=dtype,
        )

    # -- data handling ----------------------------------------------------------------------

    def _rows(self, data, name):
        """Rows as a NumPy array or CSR matrix in the model's orientation, validated."""
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
        if self.orientation == "user":
            data = data.T
        _validate_ratings(data, name)
        if self.built and data.shape[1] != self.encoder.input_shape[-1]:
            raise ValueError(
                f"`{name}` rows have {data.shape[1]} entries, but the model was built for "
                f"{self.encoder.input_shape[-1]}."
            )
        return data.tocsr() if hasattr(data, "tocsr") else data

    def fit(self, x=None, y=None, batch_size=None, epochs=1, validation_data=None, **kwargs):
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
        if is_dataset(x):
            shuffle = False  # a dataset's own order is kept, as Keras does
        else:
            batch_size = batch_size or 256
            n_rows = x.shape[0]
            x = make_row_batches(
                x,
                y,
                batch_size,
                shuffle,
                self.seed or 0,
                self._mining_inputs(x),
                first_epoch=kwargs.get("initial_epoch", 0),
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
        features, labels = [], []
        for batch in RowBatches(rows, batch_size=1024):
            if self.feature_layer is not None:
                features.append(keras.ops.convert_to_numpy(self.feature_layer(batch)))
            labels.append(keras.ops.convert_to_numpy(self.labeler(batch)))
        inputs = {"labels": np.concatenate(labels)}
        if features:
            inputs["features"] = np.concatenate(features)
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

    def predict(self, x, batch_size=None, **kwargs):
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
            x = make_row_batches(x, y, batch_size or 1024, extras=extras, training=False)
            y = None
        return super().evaluate(x, y, **kwargs)

    def get_config(self):
        config = {
            "name": self.name,
            "hidden": self.hidden,
            "activation": self.activation,
            "output_activation": self.output_activation,
            "rating_scale": self.rating_scale,
            "depth": self.depth,
            "label_depth": self.label_depth,
            "strategy": self.strategy,
            "orientation": self.orientation,
            "seed": self.seed,
            "triplet_margin": self.triplet_margin,
            "triplet_weight": self.triplet_weight,
            "adversarial_weight": self.adversarial_weight,
            "l2": self.l2,
            "generator_loss": self.generator_loss,
            "mining_features": self.mining_features,
            "output_bias_init": self.output_bias_init,
            "ranking_weight": self.ranking_weight,
            "adversarial_update": self.adversarial_update,
        }
        if self.custom_miner:
            config["miner"] = keras.saving.serialize_keras_object(self.miner)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("miner") is not None:
            config["miner"] = keras.saving.deserialize_keras_object(config["miner"])
        return cls(**config)


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
