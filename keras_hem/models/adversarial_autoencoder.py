"""An autoencoder trained from a reconstruction side and an adversarial side (paper section 2)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from keras_hem.arguments import check_choice
from keras_hem.losses.masked_reconstruction import masked_squared_error
from keras_hem.losses.triplet_loss import triplet_margin_loss
from keras_hem.mining.protocol import Miner, check_miner
from keras_hem.models import steps
from keras_hem.models.optimizer_group import OptimizerGroup
from keras_hem.ops.distances import pairwise_distances
from keras_hem.ops.masks import observed_mask
from keras_hem.types import Tensor

GENERATOR_LOSSES = ("saturating", "non_saturating")
ADVERSARIAL_UPDATES = ("alternating", "simultaneous")
RECONSTRUCTION_REDUCTIONS = ("mean", "sum")
_LOGGED = ("loss", "reconstruction_loss", "triplet_loss", "d_loss", "g_loss", "mae", "rmse")


def paper_adam(learning_rate: float = 0.001) -> keras.optimizers.Adam:
    """Adam with the paper's Table 1 settings: lr 0.001, beta1 0.9, beta2 0.999, eps 1e-8."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8
    )


@keras.saving.register_keras_serializable(package="keras_hem")
class AdversarialAutoencoder(keras.Model):
    """Autoencoder with triplet-mined latent codes and an anchor-conditioned adversary.

    Each `train_step` runs the paper's two phases on one batch of rows:

    1. **Reconstruction** (eq 9): update encoder + decoder on the squared error over observed
       entries, plus `l2 / 2 * sum(||kernel||^2)` over the encoder's and decoder's kernels,
       plus `triplet_weight *` the triplet loss (eq 5) of the latent codes of the triplets that
       `miner` picks on the rows' features (`feature_layer`, or the codes themselves) with the
       classes from `labeler`.
    2. **Regularisation**: one discriminator step (eq 11, generator fixed), then one generator
       step (eq 12, discriminator fixed). The generator is the encoder (shared weights). The
       discriminator sees pairs conditioned on the anchor: real = (anchor code, positive code),
       forged = (anchor code, code the generator makes from the negative sample).

    Inputs: rows, or a dict `{"ratings": rows, "features": ..., "labels": ...}` whose optional
    `features` and `labels` are the mining features and class labels of those rows, computed
    beforehand (what `HEMAAE.fit` does, since the rows do not change during training); missing
    keys are computed per batch by `feature_layer` and `labeler`.

    Backends: the algorithm (`train_phases`) is written once with `keras.ops`; the gradient
    and optimizer plumbing lives in `keras_hem.models.steps` (TensorFlow: `tf.GradientTape`;
    JAX: a stateless, jit-compiled step). PyTorch raises `NotImplementedError`. The three
    optimizers are held together in `model.optimizer` (an `OptimizerGroup`), so that every
    trainer carries and saves all of their state.

    Args:
        encoder: Keras model from a `(batch, n)` row to a `(batch, k)` code; also the generator.
        decoder: Keras model from a code back to a `(batch, n)` row.
        discriminator: Keras model from a `(batch, 2k)` (anchor code, code) pair to one logit.
        labeler: layer mapping rating rows to int class labels (e.g. `MeanModelLabeler`).
            Required when `miner` is given.
        miner: a `TripletHardMiner` or any `keras_hem.mining.Miner`; `None` disables the
            triplet loss and the adversary.
        feature_layer: layer mapping rows to the features the miner compares (e.g.
            `MeanModel`); `None` mines on the latent codes.
        triplet_margin: margin of the triplet loss on the codes.
        triplet_weight: weight of the triplet loss in the reconstruction phase (0 disables).
        adversarial_weight: weight of the generator loss (0 disables the regularisation phase).
        l2: the `lambda` of eq 9: `l2 / 2 * sum(||kernel||^2)` is added to the batch's
            reconstruction loss (so its weight against the data depends on
            `reconstruction_reduction`).
        generator_loss: `"non_saturating"` (`-ln D(forged)`, default) or `"saturating"`
            (eq 12's `ln(1 - D(forged))`).
        missing_value: value of unobserved entries in the rows.
        adversarial_update: when the generator (eq 12) updates the encoder. `"alternating"`
            (default; the paper's order): after the reconstruction update and the
            discriminator step, the batch is encoded again and the generator loss gets its
            own optimizer step. `"simultaneous"`: the generator loss, on the codes of the
            reconstruction phase and the discriminator before its step, is added to the
            reconstruction loss and shares its gradient step (the usual simultaneous GAN
            update). Same losses (eqs 9, 11, 12), one encoder pass and one encoder gradient
            fewer per batch; needs the generator to share the autoencoder's optimizer.
        reconstruction_reduction: how the batch's squared errors over observed entries are
            reduced. `"mean"` (default): divided by the number of observed entries, so one
            `l2` and learning rate hold for any batch size and density. `"sum"`: summed, as
            eq 9 and I-AutoRec write it; the data term then grows with the batch's ratings and
            `l2` weighs against it as in those papers (I-AutoRec's `lambda` is `l2` here).
        **kwargs: standard `keras.Model` arguments.

    Returns:
        Called on rows, the reconstruction `decoder(encoder(rows))`.

    Raises:
        ValueError: for a negative weight, an unknown `generator_loss`, or a miner without a
            labeler.

    Examples:
        >>> import keras, numpy as np
        >>> from keras_hem.layers import MeanModel, MeanModelLabeler
        >>> from keras_hem.mining import TripletHardMiner
        >>> from keras_hem.models import AdversarialAutoencoder
        >>> n, k = 30, 8
        >>> encoder = keras.Sequential([keras.Input((n,)), keras.layers.Dense(k, "sigmoid")])
        >>> decoder = keras.Sequential([keras.Input((k,)), keras.layers.Dense(n)])
        >>> critic = keras.Sequential([keras.Input((2 * k,)), keras.layers.Dense(1)])
        >>> ratings = np.random.default_rng(0).integers(0, 6, (64, n)).astype("float32")
        >>> labeler = MeanModelLabeler()
        >>> labeler.adapt(ratings)
        >>> model = AdversarialAutoencoder(encoder, decoder, critic, labeler=labeler,
        ...                                miner=TripletHardMiner(), feature_layer=MeanModel())
        >>> model.compile()
        >>> history = model.fit(ratings, epochs=1, batch_size=32, verbose=0)
        >>> sorted(history.history)
        ['d_loss', 'g_loss', 'loss', 'mae', 'reconstruction_loss', 'rmse', 'triplet_loss']
    """

    def __init__(
        self,
        encoder: keras.Model | keras.layers.Layer,
        decoder: keras.Model | keras.layers.Layer,
        discriminator: keras.Model | keras.layers.Layer,
        labeler: keras.layers.Layer | None = None,
        miner: Miner | None = None,
        feature_layer: keras.layers.Layer | None = None,
        triplet_margin: float = 1.0,
        triplet_weight: float = 1.0,
        adversarial_weight: float = 1.0,
        l2: float = 0.0,
        generator_loss: str = "non_saturating",
        missing_value: float = 0.0,
        adversarial_update: str = "alternating",
        reconstruction_reduction: str = "mean",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_choice(
            "reconstruction_reduction", reconstruction_reduction, RECONSTRUCTION_REDUCTIONS
        )
        check_choice("adversarial_update", adversarial_update, ADVERSARIAL_UPDATES)
        for name, value in (
            ("triplet_margin", triplet_margin),
            ("triplet_weight", triplet_weight),
            ("adversarial_weight", adversarial_weight),
            ("l2", l2),
        ):
            if not value >= 0:
                raise ValueError(f"`{name}` must be >= 0, got {name}={value!r}.")
        check_choice("generator_loss", generator_loss, GENERATOR_LOSSES)
        if miner is not None:
            check_miner(miner)
        if miner is not None and labeler is None:
            raise ValueError("A `miner` needs a `labeler` to tell positive from negative rows.")
        self.encoder = encoder
        self.decoder = decoder
        self.discriminator = discriminator
        self.labeler = labeler
        self.miner = miner
        self.feature_layer = feature_layer
        self.triplet_margin = float(triplet_margin)
        self.triplet_weight = float(triplet_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.l2 = float(l2)
        self.generator_loss = generator_loss
        self.missing_value = float(missing_value)
        self.adversarial_update = adversarial_update
        self.reconstruction_reduction = reconstruction_reduction
        self._trackers = {name: keras.metrics.Mean(name=name) for name in _LOGGED[:-1]}
        self._trackers["rmse"] = keras.metrics.RootMeanSquaredError(name="rmse")

    # -- Keras plumbing -------------------------------------------------------------------

    def call(self, inputs: Tensor | dict[str, Tensor], training: bool = False) -> Tensor:
        rows = inputs["ratings"] if isinstance(inputs, dict) else inputs
        return self.decoder(self.encoder(rows, training=training), training=training)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def compile(
        self,
        autoencoder_optimizer: keras.optimizers.Optimizer | None = None,
        discriminator_optimizer: keras.optimizers.Optimizer | None = None,
        generator_optimizer: keras.optimizers.Optimizer | None = None,
        **kwargs,
    ):
        """Sets the optimizers (defaults: the paper's Adam, Table 1).

        Args:
            autoencoder_optimizer: updates encoder + decoder in the reconstruction phase
                (`optimizer=` is accepted as an alias).
            discriminator_optimizer: updates the discriminator (eq 11).
            generator_optimizer: updates the encoder as generator (eq 12). `None` (default)
                reuses the autoencoder optimizer: Adam rescales each gradient by its own
                running magnitude, so with a separate Adam `adversarial_weight` would have no
                effect on the step size; sharing the moments with the reconstruction
                gradients keeps it a real weight. (The optimizer then counts two iterations
                per batch.)
            **kwargs: other `keras.Model.compile` arguments (`jit_compile`,
                `steps_per_execution`, ...). `loss` and `metrics` are fixed by the model.
        """
        autoencoder_optimizer = autoencoder_optimizer or kwargs.pop("optimizer", None)
        for fixed in ("loss", "metrics"):
            if kwargs.get(fixed) is not None:
                raise ValueError(f"AdversarialAutoencoder sets its own {fixed}; got {fixed}=...")
        autoencoder_optimizer = self._scaled(
            keras.optimizers.get(autoencoder_optimizer or paper_adam())
        )
        discriminator_optimizer = self._scaled(
            keras.optimizers.get(discriminator_optimizer or paper_adam())
        )
        shared = generator_optimizer is None
        if not shared and self.adversarial_update == "simultaneous":
            raise ValueError(
                "adversarial_update='simultaneous' folds the generator loss into the "
                "autoencoder's gradient step, so it cannot use a separate "
                f"generator_optimizer; got generator_optimizer={generator_optimizer!r}."
            )
        if not shared:
            generator_optimizer = self._scaled(keras.optimizers.get(generator_optimizer))
        group = OptimizerGroup(
            {
                "autoencoder": autoencoder_optimizer,
                "discriminator": discriminator_optimizer,
                "generator": autoencoder_optimizer if shared else generator_optimizer,
            },
            build_members=self._build_optimizers,
        )
        # The members are already loss-scaled where the dtype policy asks for it.
        super().compile(optimizer=group, auto_scale_loss=False, **kwargs)
        self._compile_args = {
            "autoencoder_optimizer": autoencoder_optimizer,
            "discriminator_optimizer": discriminator_optimizer,
            "generator_optimizer": None if shared else generator_optimizer,
            "jit_compile": kwargs.get("jit_compile", "auto"),
        }
        encoder = self.encoder
        if not self.built and encoder is not None and encoder.built:
            # Parts made with keras.Input are built already: build the model (and so the
            # optimizers) now, so that every backend trains and saves the same state.
            self.build(encoder.input_shape)
        self._build_optimizers()

    @property
    def autoencoder_optimizer(self):
        """Updates encoder + decoder in the reconstruction phase (eq 9)."""
        return self.optimizer.members["autoencoder"]

    @property
    def discriminator_optimizer(self):
        """Updates the discriminator (eq 11)."""
        return self.optimizer.members["discriminator"]

    @property
    def generator_optimizer(self):
        """Updates the encoder as generator (eq 12); by default the autoencoder optimizer."""
        return self.optimizer.members["generator"]

    def _scaled(self, optimizer):
        # Mirrors what keras.Model.compile does for the main optimizer.
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    def _build_optimizers(self):
        if not self.built or not isinstance(getattr(self, "optimizer", None), OptimizerGroup):
            return
        for optimizer, variables in (
            (self.autoencoder_optimizer, self._autoencoder_variables()),
            (self.discriminator_optimizer, self.discriminator.trainable_variables),
            (self.generator_optimizer, self.encoder.trainable_variables),
        ):
            if not optimizer.built:
                optimizer.build(variables)
        self.optimizer.built = True

    def fit(
        self, *args: Any, callbacks: list | None = None, **kwargs: Any
    ) -> keras.callbacks.History:
        """`keras.Model.fit`, with monitoring callbacks told that our logged values fall.

        Keras cannot tell the direction of custom trackers, so `EarlyStopping("val_mae")` and
        the like would refuse `mode="auto"`. Every value this model logs is minimised, so a
        callback in `callbacks` that has `mode="auto"` and monitors one of them (`loss`,
        `mae`, `reconstruction_loss`, ... or their `val_` forms) gets `mode="min"`: the
        callback object you pass is changed, and keeps that mode after `fit`. A callback
        with an explicit `mode`, or monitoring anything else, is left alone.

        Args:
            *args: `keras.Model.fit`'s positional arguments.
            callbacks: Keras callbacks, as for `keras.Model.fit`.
            **kwargs: `keras.Model.fit`'s keyword arguments.

        Returns:
            The `keras.callbacks.History` of the run.
        """
        for callback in callbacks or []:
            monitor = str(getattr(callback, "monitor", "")).removeprefix("val_")
            if getattr(callback, "mode", None) == "auto" and monitor in _LOGGED:
                callback.mode = "min"
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def get_compile_config(self):
        if not getattr(self, "_compile_args", None):
            return None
        return {k: keras.saving.serialize_keras_object(v) for k, v in self._compile_args.items()}

    def compile_from_config(self, config):
        config = {k: keras.saving.deserialize_keras_object(v) for k, v in config.items()}
        self.compile(**config)

    def build(self, input_shape: tuple | dict) -> None:
        if isinstance(input_shape, dict):
            input_shape = input_shape["ratings"]
        input_shape = (None, input_shape[-1])
        code_shape = self.encoder.compute_output_shape(input_shape)
        for part, shape in (
            (self.encoder, input_shape),
            (self.decoder, code_shape),
            (self.discriminator, (None, 2 * code_shape[-1])),
            (self.feature_layer, input_shape),
            (self.labeler, input_shape),
        ):
            if part is not None and not part.built:
                part.build(shape)
        self.built = True
        self._build_optimizers()

    def get_build_config(self):
        # Recorded from the encoder, however the model was built (by fit, by build(), ...),
        # so that loading builds the optimizers before their saved state is restored.
        if not self.built or self.encoder is None or not self.encoder.built:
            return None
        return {"input_shape": (None, int(self.encoder.input_shape[-1]))}

    def _autoencoder_variables(self):
        return (
            self.encoder.trainable_variables
            + self.decoder.trainable_variables
            + self._auxiliary_variables()
        )

    def _auxiliary_variables(self):
        """Variables of extra reconstruction-phase heads (subclasses; none here)."""
        return []

    def _auxiliary_loss(self, x, codes, training):
        """An extra reconstruction-phase loss on the codes (subclasses; 0 here)."""
        return 0.0

    # -- the losses -----------------------------------------------------------------------

    def _split(self, data):
        """`(rows, targets, precomputed)`; `precomputed` holds optional mining inputs."""
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        precomputed = {}
        if isinstance(x, dict):
            precomputed = {k: v for k, v in x.items() if k in ("features", "labels")}
            if "ratings" in x:
                x = x["ratings"]
            else:  # a sparse batch: the coordinate lists stay a dict (see `_encode`)
                x = {k: v for k, v in x.items() if k not in precomputed}
        if not isinstance(x, dict):
            x = ops.cast(x, "float32")
        if y is not None and not isinstance(y, dict):
            y = ops.cast(y, "float32")
        return x, x if y is None else y, precomputed

    def _encode(self, x, training):
        """The codes of a batch of rows. Subclasses may accept other batch kinds (sparse)."""
        return self.encoder(x, training=training)

    def _decode_at(self, codes, target, training):
        """`(true, predicted)` ratings at the target's entries.

        Here every entry of the dense target; the masked loss skips the unobserved ones.
        """
        return target, ops.cast(self.decoder(codes, training=training), "float32")

    def _mine(self, x, codes, precomputed):
        features = precomputed.get("features")
        if features is None:
            features = codes if self.feature_layer is None else self.feature_layer(x)
        labels = precomputed.get("labels")
        if labels is None:
            labels = self.labeler(x)
        return self.miner(ops.stop_gradient(features), labels)

    def _replicas(self):
        # A tf.distribute strategy (the TensorFlow trainer's own data parallelism).
        strategy = getattr(self, "distribute_strategy", None)
        return getattr(strategy, "num_replicas_in_sync", 1)

    def _kernel_penalty(self):
        if self.l2 == 0:
            return 0.0
        kernels = [
            v
            for v in self.encoder.trainable_weights + self.decoder.trainable_weights
            if v.path.endswith("kernel")
        ]
        return self.l2 / 2 * sum(ops.sum(ops.square(ops.cast(k, "float32"))) for k in kernels)

    def _reconstruction_losses(self, x, target, training, precomputed):
        codes = self._encode(x, training)
        target, reconstruction = self._decode_at(codes, target, training)
        recon = masked_squared_error(
            target, reconstruction, self.missing_value, self.reconstruction_reduction
        )
        if self.reconstruction_reduction == "sum":
            # A tf.distribute replica sums only its share of the batch; times the replica
            # count it estimates the batch's sum, as a replica's mean does the batch's mean.
            recon = recon * self._replicas()
        # Mining feeds both the triplet loss and the adversary; skip it when neither is on.
        mining = self.miner is not None and (self.triplet_weight > 0 or self.adversarial_weight > 0)
        triplets = self._mine(x, codes, precomputed) if mining else None
        triplet = 0.0
        if triplets is not None and self.triplet_weight > 0:
            distances = pairwise_distances(codes, "squared_l2")
            triplet = triplet_margin_loss(distances, triplets, self.triplet_margin)
        auxiliary = self._auxiliary_loss(x, codes, training)
        total = recon + self._kernel_penalty() + self.triplet_weight * triplet + auxiliary
        losses = {"loss": total, "reconstruction_loss": recon, "triplet_loss": triplet}
        return losses, codes, reconstruction, triplets, target

    def _pairs(self, codes, triplets, forged_codes):
        anchors, positives, negatives, valid = triplets
        anchor_codes = ops.take(codes, anchors, axis=0)
        real = ops.concatenate([anchor_codes, ops.take(codes, positives, axis=0)], axis=1)
        forged = ops.concatenate([anchor_codes, ops.take(forged_codes, negatives, axis=0)], axis=1)
        return real, forged, ops.cast(valid, "float32")

    def _discriminator_loss(self, real, forged, weight, training):
        # -[ln D(real) + ln(1 - D(forged))] with D = sigmoid(logit), in a stable form (eq 11).
        real_logit = ops.cast(
            ops.reshape(self.discriminator(real, training=training), (-1,)), "float32"
        )
        forged_logit = ops.cast(
            ops.reshape(self.discriminator(forged, training=training), (-1,)), "float32"
        )
        per_pair = ops.softplus(-real_logit) + ops.softplus(forged_logit)
        return ops.sum(per_pair * weight) / ops.maximum(ops.sum(weight), 1.0)

    def _generator_loss(self, forged, weight, training):
        logit = ops.cast(
            ops.reshape(self.discriminator(forged, training=training), (-1,)), "float32"
        )
        if self.generator_loss == "saturating":
            per_pair = -ops.softplus(logit)  # ln(1 - sigmoid(logit)), minimised (eq 12)
        else:
            per_pair = ops.softplus(-logit)  # -ln sigmoid(logit)
        return ops.sum(per_pair * weight) / ops.maximum(ops.sum(weight), 1.0)

    def _update_metrics(self, target, reconstruction, **losses):
        weight = ops.cast(observed_mask(target, self.missing_value), "float32")
        error = ops.where(weight > 0, target - reconstruction, 0.0)
        self._trackers["mae"].update_state(ops.abs(error), sample_weight=weight)
        self._trackers["rmse"].update_state(ops.zeros_like(error), error, sample_weight=weight)
        for name, value in losses.items():
            self._trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self._trackers.items()}

    # -- training and evaluation steps ----------------------------------------------------

    def train_phases(self, data, minimize, run):
        """The two-phase training algorithm on one batch, written once for every backend.

        Args:
            data: the batch (rows, or `(rows, targets)`, or a dict with precomputed
                mining inputs; see the class docstring).
            minimize: `minimize(loss_fn, variables, optimizer) -> aux`, supplied by the
                backend's step (`keras_hem.models.steps`): one gradient step of `optimizer`
                on `variables` for `loss_fn() -> (loss, aux)`.
            run: `run(fn) -> fn()`, where `fn` may update state (the metrics).

        Returns:
            The logs: every logged loss and metric.
        """
        x, target, precomputed = self._split(data)
        adversary = self.miner is not None and self.adversarial_weight > 0
        simultaneous = adversary and self.adversarial_update == "simultaneous"

        def reconstruction():
            losses, codes, reconstruction, triplets, true = self._reconstruction_losses(
                x, target, training=True, precomputed=precomputed
            )
            total, g_loss = losses["loss"], 0.0
            if simultaneous:
                # Eq 12 on this pass's codes, by the discriminator before its own step.
                _, forged, weight = self._pairs(ops.stop_gradient(codes), triplets, codes)
                g_loss = self._generator_loss(forged, weight, training=False)
                total = total + self.adversarial_weight * g_loss
            return total, (losses, codes, reconstruction, triplets, g_loss, true)

        losses, codes, reconstruction, triplets, g_loss, true = minimize(
            reconstruction, self._autoencoder_variables(), self.autoencoder_optimizer
        )
        d_loss = 0.0
        if triplets is not None and adversary:
            fixed_codes = ops.stop_gradient(codes)
            real, forged, weight = self._pairs(fixed_codes, triplets, fixed_codes)

            def discriminator():
                loss = self._discriminator_loss(real, forged, weight, training=True)
                return loss, loss

            def generator():
                generated = ops.cast(self._encode(x, training=True), "float32")
                _, forged_now, weight_now = self._pairs(fixed_codes, triplets, generated)
                loss = self._generator_loss(forged_now, weight_now, training=False)
                return self.adversarial_weight * loss, loss

            d_loss = minimize(
                discriminator, self.discriminator.trainable_variables, self.discriminator_optimizer
            )
            if not simultaneous:
                g_loss = minimize(
                    generator, self.encoder.trainable_variables, self.generator_optimizer
                )
        return run(
            lambda: self._update_metrics(
                true, reconstruction, d_loss=d_loss, g_loss=g_loss, **losses
            )
        )

    def evaluate_batch(self, data):
        """Losses and metrics on one batch without any update (backend-neutral).

        Args:
            data: the batch, as for `train_phases`.

        Returns:
            The logs.
        """
        x, target, precomputed = self._split(data)
        losses, codes, reconstruction, triplets, target = self._reconstruction_losses(
            x, target, training=False, precomputed=precomputed
        )
        d_loss = g_loss = 0.0
        if triplets is not None and self.adversarial_weight > 0:
            real, forged, weight = self._pairs(codes, triplets, codes)
            d_loss = self._discriminator_loss(real, forged, weight, training=False)
            g_loss = self._generator_loss(forged, weight, training=False)
        return self._update_metrics(target, reconstruction, d_loss=d_loss, g_loss=g_loss, **losses)

    def train_step(self, *args: Any) -> Any:
        # Keras calls train_step(data) on TensorFlow / PyTorch and train_step(state, data)
        # on JAX; the backend's module (keras_hem.models.steps) handles either.
        return steps.for_backend().train_step(self, *args)

    def test_step(self, *args: Any) -> Any:
        return steps.for_backend().test_step(self, *args)

    # -- serialisation ----------------------------------------------------------------------

    def get_config(self) -> dict:
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(
            encoder=serialize(self.encoder),
            decoder=serialize(self.decoder),
            discriminator=serialize(self.discriminator),
            labeler=serialize(self.labeler),
            miner=serialize(self.miner),
            feature_layer=serialize(self.feature_layer),
            triplet_margin=self.triplet_margin,
            triplet_weight=self.triplet_weight,
            adversarial_weight=self.adversarial_weight,
            l2=self.l2,
            generator_loss=self.generator_loss,
            missing_value=self.missing_value,
            adversarial_update=self.adversarial_update,
            reconstruction_reduction=self.reconstruction_reduction,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "decoder", "discriminator", "labeler", "miner", "feature_layer"):
            config[key] = keras.saving.deserialize_keras_object(config.get(key))
        return cls(**config)
