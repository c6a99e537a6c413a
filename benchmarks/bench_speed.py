"""Epoch time of HEM-AAE against hand-written loops of its own algorithm and of I-AutoRec.

    KERAS_BACKEND=tensorflow python benchmarks/bench_speed.py [--hidden 400] [--batch 256] \
        [--rounds 5] [--smoke] [--out DIR]
    KERAS_BACKEND=jax python benchmarks/bench_speed.py ...
    python benchmarks/bench_speed.py --compare [--smoke]  # JAX/TF ratios from the two files
    KERAS_BACKEND=... python benchmarks/bench_speed.py --serving  # serving times only

Runs on the active Keras backend (TensorFlow or JAX; others are refused). Data: ML-1M's
items x users matrix (3706 x 6040, 1,000,209 ratings) through
`keras_hem.datasets.movielens.load_data` when `KERAS_HEM_DATA` holds it, else a synthetic
`low_rank_ratings` matrix of `--shape` (default ML-1M's) and ML-1M's density. `--smoke`: a
synthetic 300 x 200 matrix, hidden 16, batch 64, 2 rounds (for the test).

Five variants, each one training epoch over the same rows in batches of `--batch`, shuffled
every epoch. The three that train read their batches from the library's pipeline for the
backend (`make_row_batches`: `row_dataset` on TensorFlow, `RowBatches` on JAX), so the loops
differ from `HEMAAE.fit` only in the training step and its driver:

* `hem_aae`: `HEMAAE(hidden).fit(rows, epochs=1)` (both phases, mining, adversary). The epoch
  is timed from Keras's `on_epoch_begin` to `on_epoch_end` after waiting for the device; the
  per-`fit` setup around it (mining inputs of every row, the batch pipeline) is reported
  apart, as `hem_aae_fit_call` (the whole `fit` call).
* `hem_aae_loop`: a minimal hand-written loop of the same algorithm
  (`AdversarialAutoencoder.train_phases` with `HEMAAE`'s defaults): reconstruction phase
  (encoder + decoder forward, masked squared error (summed or averaged over the observed
  ratings, as the model's `reconstruction_reduction`) + l2 / 2 * the kernels' squared norms +
  triplet_weight * the triplet loss of the codes of batch-hard triplets mined on precomputed
  mean-model features and labels, one Adam step), the discriminator step on (anchor, positive)
  against (anchor, negative) code pairs, and the generator step (the batch encoded again, the
  encoder updated with the autoencoder's Adam). TensorFlow: `tf.function` (with the
  `jit_compile` Keras resolves for the library model) and `tf.GradientTape`; JAX: `jax.jit`
  and `jax.value_and_grad`. Adam is written out by hand on both. The losses are `keras.ops`
  functions of the weights (the library's `TripletHardMiner`, `pairwise_distances` and
  `triplet_margin_loss` among them), so both backends run the same maths.
* `autorec_loop`: the same kind of loop for plain I-AutoRec (sigmoid encoder, identity
  decoder, masked squared error, Adam): the least a training epoch of this shape can do.
* `floor_hem_aae`, `floor_autorec`: only the large matrix products of a step, per batch:
  7 for HEM-AAE (encoder and decoder forward, the decoder kernel's gradient, the gradient back
  to the codes, the encoder kernel's gradient; the generator's second encoding and its encoder
  gradient) and 5 for I-AutoRec (the first five). Each is 2 * b * n * h FLOP for a batch of b
  rows of n columns and h hidden units, so an epoch is 2 * rows * n * h * products FLOP.
  Left out of the HEM-AAE floor: the critic's six products of a step (2 * b * 2h * h FLOP
  each) and the codes' distance matrix with its gradient (three of 2 * b * b * h): together
  (12h + 3b) / n of one large product, about 0.9 at ML-1M's n = 6040, h 400, b 256.

Every variant first runs one untimed epoch (tracing, compiling). Then `--rounds` rounds: each
times every variant once, in an order rotated by one place per round, so that a load on the
machine falls on all variants alike rather than on one. Reported: per variant the median and
minimum seconds, and per-round ratios of the same round's epochs (their median and minimum).
Targets, judged on the median ratio: `hem_aae` <= 1.15x `hem_aae_loop` and <= 1.3x
`autorec_loop`.

Writes `results/speed_<backend>.json` (`--smoke`: `speed_<backend>_smoke.json`; `--out` names
another folder, or the file itself) and prints a markdown table, followed by the JAX/TF epoch
ratios when both backends' files are in that folder. Serving (`--serving`): a `Recommender`
fitted for one epoch on the same rows, median of 3 calls of each of `predict_all`,
`ease_fit`, `ease_scores_all`, `top10_all_users` (every user's top 10, scored a chunk of users
at a time: nothing is cached) and `predict_pairs` (1,000,000 pairs); written into the same
file, keeping its training figures.
"""

import argparse
import json
import os
import shlex
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import scipy.sparse as sp
from _timing import RESULTS, wait, write
from keras import ops

BACKENDS = ("tensorflow", "jax")
VARIANTS = (
    "hem_aae",
    "hem_aae_simultaneous",
    "hem_aae_loop",
    "autorec_loop",
    "floor_hem_aae",
    "floor_autorec",
)
PRODUCTS = {"floor_hem_aae": 7, "floor_autorec": 5}
TARGETS = {"hem_aae_over_hem_aae_loop": 1.15, "hem_aae_over_autorec_loop": 1.3}
INFO_RATIOS = (
    ("hem_aae_simultaneous", "autorec_loop"),
    ("hem_aae_loop", "floor_hem_aae"),
    ("autorec_loop", "floor_autorec"),
)
SERVING_TARGETS = {"ratings_ranking_total": 2.0, "ease_ranking_total": 2.0}
ML1M_SHAPE = (3706, 6040)
ML1M_DENSITY = 1_000_209 / (3706 * 6040)
SMOKE = {"shape": (300, 200), "hidden": 16, "batch": 64, "rounds": 2}

# The weights of the hand-written loops: encoder V (n x h), decoder W (h x n), critic
# D1 (2h x h) then D2 (h x 1), each with a bias.
AUTOENCODER = ("V", "b_V", "W", "b_W")
ENCODER = ("V", "b_V")
CRITIC = ("D1", "b_D1", "D2", "b_D2")
ADAM = ("learning_rate", "beta_1", "beta_2", "epsilon")

DESCRIPTIONS = {
    "hem_aae": "`HEMAAE.fit`, one epoch (both phases, mining, adversary)",
    "hem_aae_simultaneous": "`HEMAAE(adversarial_update='simultaneous').fit`, one epoch",
    "hem_aae_loop": "hand-written loop of HEM-AAE's algorithm",
    "autorec_loop": "hand-written loop of plain I-AutoRec",
    "floor_hem_aae": "the 7 large matrix products of a HEM-AAE step, alone",
    "floor_autorec": "the 5 matrix products of an I-AutoRec step, alone",
}


# -- data ---------------------------------------------------------------------------------


def load_rows(args):
    """Items x users CSR ratings and a description of them (no paths)."""
    from keras_hem import RatingMatrix
    from keras_hem.datasets import movielens
    from keras_hem.datasets.synthetic import low_rank_ratings

    if not args.smoke and os.environ.get(movielens.ENV_DATA_DIR):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                frame = movielens.load_data("ml-1m")
        except FileNotFoundError:
            print(f"no ML-1M under ${movielens.ENV_DATA_DIR}; synthetic data instead", flush=True)
        else:
            folder = os.environ[movielens.ENV_DATA_DIR]

            def hide(text):  # the data folder as the variable that names it, never a path
                home = Path(folder).expanduser()
                for form in {str(home.resolve()), str(home), folder.rstrip("/")}:
                    text = text.replace(form, f"${movielens.ENV_DATA_DIR}")
                return text

            ratings = RatingMatrix.from_dataframe(frame)
            rows = sp.csr_array(ratings.to_item_user_csr(), dtype="float32")
            return rows, {
                "source": "ml-1m",
                "file": hide(str(frame.attrs.get("source"))),
                "derived": bool(frame.attrs.get("derived", False)),
                "shape": list(rows.shape),
                "n_ratings": int(rows.nnz),
                "density": rows.nnz / (rows.shape[0] * rows.shape[1]),
                "warnings": [hide(str(w.message)) for w in caught],
            }
    n_items, n_users = args.shape
    dense = low_rank_ratings(n_items=n_items, n_users=n_users, density=args.density, seed=0)
    rows = sp.csr_array(dense)
    return rows, {
        "source": "synthetic",
        "generator": "keras_hem.datasets.synthetic.low_rank_ratings",
        "seed": 0,
        "shape": list(rows.shape),
        "n_ratings": int(rows.nnz),
        "density": rows.nnz / (n_items * n_users),
    }


def mining_inputs(rows, depth, label_depth):
    """Mean-model features and labels of every row, computed once (as `HEMAAE.fit` does)."""
    from keras_hem.data.pipeline import RowBatches
    from keras_hem.layers import MeanModel, MeanModelLabeler

    labeler = MeanModelLabeler(label_depth=label_depth)
    labeler.adapt(rows)
    mean_model = MeanModel(depth=depth)
    features, labels = [], []
    for batch in RowBatches(rows, batch_size=1024):
        features.append(ops.convert_to_numpy(mean_model(batch)))
        labels.append(ops.convert_to_numpy(labeler(batch)))
    return {"features": np.concatenate(features), "labels": np.concatenate(labels)}


def batch_sizes(n_rows, batch):
    """The batch sizes of one epoch: full batches, then the remainder."""
    return [batch] * (n_rows // batch) + ([n_rows % batch] if n_rows % batch else [])


# -- the library ----------------------------------------------------------------------------


class EpochTimer(keras.callbacks.Callback):
    """Seconds of the last epoch, waiting for the device before stopping the clock."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        wait([v.value for v in self.model.trainable_variables])
        self.seconds = time.perf_counter() - self.start


def library_model(args):
    """A compiled `HEMAAE` and the settings the hand-written loop must repeat."""
    from keras_hem import HEMAAE

    # The paper's step, as the hand-written loops run it: no denoising mask.
    model = HEMAAE(hidden=args.hidden, seed=0, input_dropout=0.0)
    model.compile()
    return model, model_settings(model)


def model_settings(model):
    """The settings of a compiled `HEMAAE` that the hand-written loop repeats.

    Raises:
        SystemExit: if the model departs from the defaults the loop is written for.
    """
    expected = {
        "activation": "sigmoid",
        "output_activation": "identity",
        "strategy": "batch_hard",
        "mining_features": "mean_model",
        "generator_loss": "non_saturating",
        "ranking_weight": 0.0,
        "output_bias_init": "zeros",
        "custom_miner": False,
        "adversarial_update": "alternating",
    }
    changed = {k: getattr(model, k) for k, v in expected.items() if getattr(model, k) != v}
    if changed:
        raise SystemExit(
            f"HEMAAE's defaults changed ({changed}); update the hand-written loop to match."
        )
    adam = model.autoencoder_optimizer
    return {
        "margin": model.triplet_margin,
        "triplet_weight": model.triplet_weight,
        "adversarial_weight": model.adversarial_weight,
        "l2": model.l2,
        "reconstruction_reduction": model.reconstruction_reduction,
        "depth": model.depth,
        "label_depth": model.label_depth,
        "learning_rate": float(ops.convert_to_numpy(adam.learning_rate)),
        "beta_1": float(adam.beta_1),
        "beta_2": float(adam.beta_2),
        "epsilon": float(adam.epsilon),
    }


def library_variant(model, rows, batch, fit_calls):
    timer = EpochTimer()

    def epoch():
        start = time.perf_counter()
        model.fit(rows, epochs=1, batch_size=batch, callbacks=[timer], verbose=0)
        fit_calls.append(time.perf_counter() - start)
        return timer.seconds

    return epoch


# -- the hand-written algorithm, in keras.ops (the same maths on every backend) ------------


def initial_weights(n, hidden, seed=0):
    """Glorot-uniform kernels and zero biases, as `HEMAAE` starts."""
    rng = np.random.default_rng(seed)

    def glorot(fan_in, fan_out):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, (fan_in, fan_out)).astype("float32")

    def zeros(size):
        return np.zeros(size, "float32")

    return {
        "V": glorot(n, hidden),
        "b_V": zeros(hidden),
        "W": glorot(hidden, n),
        "b_W": zeros(n),
        "D1": glorot(2 * hidden, hidden),
        "b_D1": zeros(hidden),
        "D2": glorot(hidden, 1),
        "b_D2": zeros(1),
    }


def encode(w, x):
    return ops.sigmoid(ops.matmul(x, w["V"]) + w["b_V"])


def decode(w, codes):
    return ops.matmul(codes, w["W"]) + w["b_W"]


def critic(w, pairs):
    hidden = ops.sigmoid(ops.matmul(pairs, w["D1"]) + w["b_D1"])
    return ops.reshape(ops.matmul(hidden, w["D2"]) + w["b_D2"], (-1,))


def masked_squared_error(x, reconstruction, reduction="mean"):
    mask = ops.cast(ops.not_equal(x, 0.0), "float32")
    total = ops.sum(mask * ops.square(x - reconstruction))
    return total if reduction == "sum" else total / ops.maximum(ops.sum(mask), 1.0)


def weighted_mean(values, valid):
    weight = ops.cast(valid, "float32")
    return ops.sum(values * weight) / ops.maximum(ops.sum(weight), 1.0)


def autorec_loss(w, x):
    return masked_squared_error(x, decode(w, encode(w, x)))


def reconstruction_loss(w, x, triplets, settings):
    """Eq 9 with the triplet term: the loss of HEM-AAE's reconstruction phase, and the codes."""
    from keras_hem.losses.triplet_loss import triplet_margin_loss
    from keras_hem.mining import pairwise_distances

    codes = encode(w, x)
    loss = masked_squared_error(x, decode(w, codes), settings["reconstruction_reduction"])
    loss += settings["l2"] / 2 * (ops.sum(ops.square(w["V"])) + ops.sum(ops.square(w["W"])))
    triplet = triplet_margin_loss(pairwise_distances(codes), triplets, settings["margin"])
    return loss + settings["triplet_weight"] * triplet, codes


def critic_loss(w, codes, triplets):
    """-[ln D(anchor, positive) + ln(1 - D(anchor, negative))] over the valid triplets."""
    anchors, positives, negatives, valid = triplets
    anchor = ops.take(codes, anchors, axis=0)
    real = ops.concatenate([anchor, ops.take(codes, positives, axis=0)], axis=1)
    forged = ops.concatenate([anchor, ops.take(codes, negatives, axis=0)], axis=1)
    return weighted_mean(ops.softplus(-critic(w, real)) + ops.softplus(critic(w, forged)), valid)


def generator_loss(encoder_weights, critic_weights, x, codes, triplets, weight):
    """-ln D(anchor, code of the negative encoded again), weighted (non-saturating)."""
    anchors, _, negatives, valid = triplets
    generated = encode(encoder_weights, x)
    forged = ops.concatenate(
        [ops.take(codes, anchors, axis=0), ops.take(generated, negatives, axis=0)], axis=1
    )
    return weight * weighted_mean(ops.softplus(-critic(critic_weights, forged)), valid)


def floor_products(x, v, w, v2=None):
    """The large products of a step (5; 7 with `v2`), on stand-in values of the same shapes."""
    codes = ops.matmul(x, v)  # encoder forward
    out = ops.matmul(codes, w)  # decoder forward
    grad_w = ops.matmul(ops.transpose(codes), out)  # decoder kernel gradient
    grad_codes = ops.matmul(out, ops.transpose(w))  # back to the codes
    grad_v = ops.matmul(ops.transpose(x), grad_codes)  # encoder kernel gradient
    total = ops.sum(grad_w) + ops.sum(grad_v)  # one scalar out, so nothing piles up
    if v2 is None:
        return total
    generated = ops.matmul(x, v2)  # the generator encodes the batch again (new weights)
    return total + ops.sum(ops.matmul(ops.transpose(x), generated))  # its encoder gradient


def floor_inputs(n_rows, n, hidden, batch, seed=0):
    """Random stand-ins: one batch per batch size of an epoch, and the weights' shapes."""
    rng = np.random.default_rng(seed)
    sizes = batch_sizes(n_rows, batch)
    xs = {size: rng.random((size, n)).astype("float32") for size in set(sizes)}
    shapes = ((n, hidden), (hidden, n), (n, hidden))
    return sizes, xs, [rng.random(shape).astype("float32") for shape in shapes]


def timed(run_epoch):
    """`run_epoch() -> outputs to wait for`, as a callable returning its seconds."""

    def epoch():
        start = time.perf_counter()
        wait(run_epoch())
        return time.perf_counter() - start

    return epoch


def compiled(fn, jit):
    """`fn` compiled by the active backend: `tf.function` (XLA if `jit`) or `jax.jit`."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=jit)
    import jax

    return jax.jit(fn)


def subset(weights, keys):
    return {k: weights[k] for k in keys}


# -- the hand-written loops: gradients, Adam and compilation per backend ---------------------


class TensorFlowLoop:
    """One algorithm's training step on `tf.Variable`s: `tf.GradientTape`, Adam written out.

    Args:
        algorithm: `"hem_aae"` or `"autorec"`.
        weights: initial weights (NumPy), by name.
        settings: the `HEMAAE` settings the algorithm uses.
        jit: `jit_compile` of the `tf.function`.
    """

    def __init__(self, algorithm, weights, settings, jit):
        import tensorflow as tf

        from keras_hem.mining import TripletHardMiner

        self.tf, self.settings = tf, settings
        keys = AUTOENCODER if algorithm == "autorec" else (*AUTOENCODER, *CRITIC)
        self.w = {k: tf.Variable(weights[k]) for k in keys}
        self.autoencoder_adam = self.adam(AUTOENCODER)
        if algorithm == "hem_aae":
            self.critic_adam = self.adam(CRITIC)
            self.miner = TripletHardMiner(settings["margin"])
            self.step = tf.function(self.hem_aae_step, jit_compile=jit)
        else:
            self.step = tf.function(self.autorec_step, jit_compile=jit)

    def adam(self, keys):
        zeros = [self.tf.zeros_like(self.w[k]) for k in keys]
        moments = {k: (self.tf.Variable(z), self.tf.Variable(z)) for k, z in zip(keys, zeros)}
        return {"step": self.tf.Variable(0.0), "moments": moments}

    def apply(self, adam, grads):
        """The update of `keras.optimizers.Adam`, in place."""
        tf = self.tf
        lr, beta_1, beta_2, eps = (self.settings[k] for k in ADAM)
        adam["step"].assign_add(1.0)
        step = adam["step"].read_value()
        alpha = lr * tf.sqrt(1.0 - tf.pow(beta_2, step)) / (1.0 - tf.pow(beta_1, step))
        for k, grad in grads.items():
            m, v = adam["moments"][k]
            m.assign_add((grad - m) * (1.0 - beta_1))
            v.assign_add((tf.square(grad) - v) * (1.0 - beta_2))
            self.w[k].assign_sub(alpha * m / (tf.sqrt(v) + eps))

    def hem_aae_step(self, x, features, labels):
        w, tf = self.w, self.tf
        triplets = self.miner(features, labels)
        with tf.GradientTape() as tape:
            loss, codes = reconstruction_loss(w, x, triplets, self.settings)
        self.apply(self.autoencoder_adam, tape.gradient(loss, subset(w, AUTOENCODER)))
        codes = tf.stop_gradient(codes)
        with tf.GradientTape() as tape:
            d_loss = critic_loss(w, codes, triplets)
        self.apply(self.critic_adam, tape.gradient(d_loss, subset(w, CRITIC)))
        weight = self.settings["adversarial_weight"]
        with tf.GradientTape() as tape:
            g_loss = generator_loss(w, w, x, codes, triplets, weight)
        self.apply(self.autoencoder_adam, tape.gradient(g_loss, subset(w, ENCODER)))
        return loss

    def autorec_step(self, x):
        with self.tf.GradientTape() as tape:
            loss = autorec_loss(self.w, x)
        self.apply(self.autoencoder_adam, tape.gradient(loss, self.w))
        return loss

    def train(self, batch):
        if isinstance(batch, dict):
            return self.step(batch["ratings"], batch["features"], batch["labels"])
        return self.step(batch)

    def outputs(self):
        return None  # TensorFlow waits for the device as a whole

    def weights(self):
        return {k: v.numpy() for k, v in self.w.items()}


class JaxLoop:
    """One algorithm's training step as a pure `jax.jit` function, Adam written out.

    Args: as `TensorFlowLoop` (without `jit`: JAX always compiles).
    """

    def __init__(self, algorithm, weights, settings):
        import jax
        import jax.numpy as jnp

        from keras_hem.mining import TripletHardMiner

        self.jax, self.jnp, self.settings = jax, jnp, settings
        keys = AUTOENCODER if algorithm == "autorec" else (*AUTOENCODER, *CRITIC)
        w = {k: jnp.asarray(weights[k]) for k in keys}
        self.state = {"w": w, "autoencoder": self.adam(w, AUTOENCODER)}
        if algorithm == "hem_aae":
            self.state["critic"] = self.adam(w, CRITIC)
            self.miner = TripletHardMiner(settings["margin"])
            step = self.hem_aae_step
        else:
            step = self.autorec_step
        self.step = jax.jit(step, donate_argnums=0)

    def adam(self, w, keys):
        zeros = self.jnp.zeros_like
        moments = tuple({k: zeros(w[k]) for k in keys} for _ in range(2))  # two buffers each
        return {"step": self.jnp.float32(0.0), "moments": moments}

    def apply(self, w, adam, grads):
        """The update of `keras.optimizers.Adam`: new weights and new Adam state."""
        jnp = self.jnp
        lr, beta_1, beta_2, eps = (self.settings[k] for k in ADAM)
        step = adam["step"] + 1.0
        alpha = lr * jnp.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
        m, v = (dict(moment) for moment in adam["moments"])
        for k, grad in grads.items():
            m[k] = m[k] + (grad - m[k]) * (1.0 - beta_1)
            v[k] = v[k] + (jnp.square(grad) - v[k]) * (1.0 - beta_2)
        new = {k: w[k] - alpha * m[k] / (jnp.sqrt(v[k]) + eps) for k in grads}
        return {**w, **new}, {"step": step, "moments": (m, v)}

    def hem_aae_step(self, state, x, features, labels):
        jax, settings = self.jax, self.settings
        w = state["w"]
        triplets = self.miner(features, labels)
        (loss, codes), grads = jax.value_and_grad(
            lambda q: reconstruction_loss(q, x, triplets, settings), has_aux=True
        )(subset(w, AUTOENCODER))
        w, autoencoder = self.apply(w, state["autoencoder"], grads)
        codes = jax.lax.stop_gradient(codes)
        grads = jax.grad(lambda q: critic_loss(q, codes, triplets))(subset(w, CRITIC))
        w, critic_adam = self.apply(w, state["critic"], grads)
        weight = settings["adversarial_weight"]
        grads = jax.grad(lambda q: generator_loss(q, w, x, codes, triplets, weight))(
            subset(w, ENCODER)
        )
        w, autoencoder = self.apply(w, autoencoder, grads)
        return {"w": w, "autoencoder": autoencoder, "critic": critic_adam}, loss

    def autorec_step(self, state, x):
        loss, grads = self.jax.value_and_grad(autorec_loss)(state["w"], x)
        w, autoencoder = self.apply(state["w"], state["autoencoder"], grads)
        return {"w": w, "autoencoder": autoencoder}, loss

    def train(self, batch):
        if isinstance(batch, dict):
            args = (batch["ratings"], batch["features"], batch["labels"])
        else:
            args = (batch,)
        self.state, loss = self.step(self.state, *args)
        return loss

    def outputs(self):
        return self.state

    def weights(self):
        return {k: np.asarray(v) for k, v in self.state["w"].items()}


def hand_written(algorithm, weights, settings, jit):
    """The hand-written loop of `algorithm` on the active backend."""
    if keras.backend.backend() == "tensorflow":
        return TensorFlowLoop(algorithm, weights, settings, jit)
    return JaxLoop(algorithm, weights, settings)


def loop_epoch(loop, batches, n_batches):
    """One epoch of `loop`: `n_batches` batches of `batches` (`RowBatches` or tf.data), timed.

    A shuffled `row_dataset` may run on from one epoch into the next, so the tf.data
    iterator is kept across epochs and only restarted when it ends.
    """
    iterator = []

    def next_batch():
        if not iterator:
            iterator.append(iter(batches))
        try:
            return next(iterator[0])
        except StopIteration:
            iterator[0] = iter(batches)
            return next(iterator[0])

    def epoch():
        if isinstance(batches, keras.utils.PyDataset):
            for i in range(len(batches)):
                loop.train(batches[i])
            batches.on_epoch_end()
        else:
            for _ in range(n_batches):
                loop.train(next_batch())
        return loop.outputs()

    return timed(epoch)


def floor_epoch(products, sizes, xs):
    return timed(lambda: [products(xs[size]) for size in sizes])


def hand_written_variants(rows, extras, args, settings, jit):
    """The loops and floors on the active backend, over the same rows as `HEMAAE.fit`."""
    from keras_hem.data.pipeline import make_row_batches

    weights = initial_weights(rows.shape[1], args.hidden)
    hem_aae = hand_written("hem_aae", weights, settings, jit)
    autorec = hand_written("autorec", weights, settings, jit)
    sizes, xs, (v, w, v2) = floor_inputs(*rows.shape, args.hidden, args.batch)
    xs = {size: ops.convert_to_tensor(x) for size, x in xs.items()}
    v, w, v2 = (ops.convert_to_tensor(a) for a in (v, w, v2))
    n_batches = len(sizes)
    hem_aae_batches = make_row_batches(rows, None, args.batch, True, 0, extras)
    autorec_batches = make_row_batches(rows, None, args.batch, True, 0)
    return {
        "hem_aae_loop": loop_epoch(hem_aae, hem_aae_batches, n_batches),
        "autorec_loop": loop_epoch(autorec, autorec_batches, n_batches),
        "floor_hem_aae": floor_epoch(
            compiled(lambda x: floor_products(x, v, w, v2), jit), sizes, xs
        ),
        "floor_autorec": floor_epoch(compiled(lambda x: floor_products(x, v, w), jit), sizes, xs),
    }


# -- rounds, ratios, report ----------------------------------------------------------------


def interleave(variants, rounds):
    """Per-variant seconds over `rounds` rounds, each variant once per round, rotated order."""
    names = list(variants)
    seconds = {name: [] for name in names}
    orders = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        orders.append(order)
        for name in order:
            seconds[name].append(float(variants[name]()))
        times = ", ".join(f"{name} {seconds[name][-1]:.3f}" for name in order)
        print(f"round {r + 1}/{rounds} (s): {times}", flush=True)
    return seconds, orders


def ratio(seconds, numerator, denominator):
    per_round = [a / b for a, b in zip(seconds[numerator], seconds[denominator], strict=True)]
    return {
        "per_round": per_round,
        "median": float(np.median(per_round)),
        "min": float(min(per_round)),
    }


def summarise(seconds, n_rows, n, hidden):
    summary = {}
    for name, values in seconds.items():
        summary[name] = {"median": float(np.median(values)), "min": float(min(values))}
        if name in PRODUCTS:
            flop = 2 * n_rows * n * hidden * PRODUCTS[name]
            summary[name].update(
                products=PRODUCTS[name],
                flop_per_epoch=flop,
                gflop_per_s_median=flop / summary[name]["median"] / 1e9,
            )
    return summary


def command_line(args, backend, source):
    words = ["python", "benchmarks/bench_speed.py"]
    if args.smoke:
        words.append("--smoke")
    else:
        words += ["--hidden", str(args.hidden), "--batch", str(args.batch)]
        words += ["--rounds", str(args.rounds)]
        if source == "synthetic" and tuple(args.shape) != ML1M_SHAPE:
            words += ["--shape", *map(str, args.shape)]
        if source == "synthetic" and args.density != ML1M_DENSITY:
            words += ["--density", str(args.density)]
    if args.serving:
        words.append("--serving")
    env = f"KERAS_BACKEND={backend} "
    if source == "ml-1m":
        env += "KERAS_HEM_DATA=$KERAS_HEM_DATA "  # the folder, not written out
    return env + shlex.join(words)


def markdown(result):
    summary, ratios = result["seconds"], result["ratios"]
    data = result["data"]
    lines = [
        f"## One training epoch, {result['backend']} (jit_compile={result['jit_compile']})",
        "",
        f"{data['source']} {data['shape'][0]} x {data['shape'][1]} ({data['n_ratings']:,} "
        f"ratings), hidden {result['hidden']}, batch {result['batch_size']}, "
        f"{result['rounds']} interleaved rounds; `{result['command']}`",
        "",
        "| variant | what | median s | min s | GFLOP / epoch | hem_aae / variant, median (min) |",
        "|---|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        s = summary[name]
        flop = f"{s['flop_per_epoch'] / 1e9:.3g}" if "flop_per_epoch" in s else ""
        r = ratios.get(f"hem_aae_over_{name}")
        cell = "1" if name == "hem_aae" else f"{r['median']:.2f}x ({r['min']:.2f}x)"
        lines.append(
            f"| `{name}` | {DESCRIPTIONS[name]} | {s['median']:.3f} | {s['min']:.3f} | "
            f"{flop} | {cell} |"
        )
    fit = result["hem_aae_fit_call"]
    lines += [
        "",
        f"The whole `fit(epochs=1)` call around the `hem_aae` epoch: median {fit['median']:.3f} s.",
        "",
        "Targets (median of the per-round ratios; minimum in brackets):",
        "",
    ]
    for name, bound in TARGETS.items():
        r = ratios[name]
        verdict = "met" if r["median"] <= bound else "missed"
        label = name.replace("_over_", " / ")
        lines.append(f"- {label} <= {bound}: {r['median']:.3f} ({r['min']:.3f}), **{verdict}**")
    r = ratios["hem_aae_simultaneous_over_autorec_loop"]
    verdict = "met" if r["median"] <= TARGETS["hem_aae_over_autorec_loop"] else "missed"
    lines.append(
        f"- with `adversarial_update='simultaneous'`: hem_aae_simultaneous / autorec_loop "
        f"<= {TARGETS['hem_aae_over_autorec_loop']}: {r['median']:.3f} ({r['min']:.3f}), "
        f"**{verdict}**"
    )
    return "\n".join(lines)


def compare(folder, suffix):
    """Markdown of the JAX/TF ratios from the two result files, or None without both."""
    files = {b: Path(folder) / f"speed_{b}{suffix}.json" for b in BACKENDS}
    if not all(path.is_file() for path in files.values()):
        return None
    results = {b: json.loads(path.read_text()) for b, path in files.items()}
    if not all("seconds" in r for r in results.values()):
        return None
    setups = {
        b: (
            r["data"]["source"],
            tuple(r["data"]["shape"]),
            r["hidden"],
            r["batch_size"],
            r["machine"].get("cpu_count"),
            tuple(r["machine"].get("gpus", ())),
        )
        for b, r in results.items()
    }
    tf_result, jax_result = results["tensorflow"], results["jax"]
    lines = [
        "## JAX / TensorFlow, seconds per epoch (separate runs, one per backend)",
        "",
        "| variant | TensorFlow median s | JAX median s | JAX / TF, median | JAX / TF, min |",
        "|---|---|---|---|---|",
    ]
    for name in VARIANTS:
        t, j = tf_result["seconds"].get(name), jax_result["seconds"].get(name)
        if t is None or j is None:
            continue
        lines.append(
            f"| `{name}` | {t['median']:.3f} | {j['median']:.3f} | "
            f"{j['median'] / t['median']:.2f} | {j['min'] / t['min']:.2f} |"
        )
    if setups["tensorflow"] != setups["jax"]:
        lines += [
            "",
            "**The two runs differ** (data, shape, hidden, batch, CPUs, GPUs): "
            f"{setups['tensorflow']} against {setups['jax']}",
        ]
    return "\n".join(lines)


# -- serving ---------------------------------------------------------------------------------


def median_call(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def time_serving(rows, hidden):
    """Seconds to score and rank the whole catalogue for every user (see the module doc).

    Public calls only. Nothing is cached between calls: every ranking decodes the scores of
    its users, a chunk at a time (`keras_hem.ranking`). `predict_all` and `ease_scores_all`
    score every user chunk by chunk (by predicted ratings, and by the default EASE blend,
    whose rating term decodes the ratings again); `top10_all_users` is every user's top 10 by
    the default score, scoring included; `ease_fit` builds the default scorer
    (`EASEBlendScorer`: EASE's closed-form fit) from the model's codes.
    """
    from keras_hem import RatingMatrix
    from keras_hem.ranking import EASEBlendScorer, chunk_size_for
    from keras_hem.recommender import Recommender

    coo = rows.tocoo()  # items x users
    train = RatingMatrix.from_arrays(coo.col, coo.row, coo.data, scale=(1, 5))
    rec = Recommender(hidden=hidden, epochs=1, validation_fraction=0).fit(train, verbose=0)
    by_ratings = rec.with_ranking("ratings")
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, train.n_users, 1_000_000), rng.integers(0, train.n_items, 1_000_000)
    user_ids, item_ids = train.user_ids[pairs[0]], train.item_ids[pairs[1]]
    chunk = chunk_size_for(train.n_items)

    def score_all(recommender):
        for start in range(0, train.n_users, chunk):
            recommender.score_users(np.arange(start, min(start + chunk, train.n_users)))

    times = {
        "n_users": train.n_users,
        "n_items": train.n_items,
        "ease_fit": median_call(
            lambda: EASEBlendScorer(
                by_ratings.scorer, l2=rec.ease_l2, rating_weight=rec.rating_weight
            )
        ),
        "predict_all": median_call(lambda: score_all(by_ratings)),
        "ease_scores_all": median_call(lambda: score_all(rec)),
        "top10_all_users": median_call(lambda: rec.recommend(train.user_ids, k=10)),
        "predict_pairs": median_call(lambda: rec.predict(user_ids, item_ids)),
    }
    # From a trained model (and, for EASE, its fitted weights) to every user's top-10 list,
    # by predicted ratings alone and by the default score.
    times["ratings_ranking_total"] = median_call(lambda: by_ratings.recommend(train.user_ids, k=10))
    times["ease_ranking_total"] = times["top10_all_users"]
    return times


# -- main ------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--shape",
        type=int,
        nargs=2,
        default=list(ML1M_SHAPE),
        metavar=("ITEMS", "USERS"),
        help="synthetic data only (ML-1M's by default)",
    )
    parser.add_argument("--density", type=float, default=ML1M_DENSITY, help="synthetic only")
    parser.add_argument("--smoke", action="store_true", help="tiny shapes, 2 rounds (a test)")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="folder of the JSON files, or the JSON file itself (a name ending in .json)",
    )
    parser.add_argument("--serving", action="store_true", help="time serving only")
    parser.add_argument(
        "--compare", action="store_true", help="print the JAX/TF ratios of the two files"
    )
    args = parser.parse_args(argv)
    args.name = None  # speed_<backend>[_smoke], unless --out names the file
    if args.out.suffix == ".json":
        args.out, args.name = args.out.parent, args.out.stem
    if args.smoke:
        args.shape, args.hidden, args.batch = SMOKE["shape"], SMOKE["hidden"], SMOKE["batch"]
        args.rounds = SMOKE["rounds"]
    for name in ("hidden", "batch", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    suffix = "_smoke" if args.smoke else ""
    if args.compare:
        table = compare(args.out, suffix)
        if table is None:
            raise SystemExit(
                f"--compare needs speed_tensorflow{suffix}.json and "
                f"speed_jax{suffix}.json with training figures in {args.out}"
            )
        print(table)
        return
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise SystemExit(
            f"bench_speed.py runs on the tensorflow or jax backend, not {backend!r}; "
            "set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax."
        )
    name = args.name or f"speed_{backend}{suffix}"
    rows, data = load_rows(args)
    print(f"data: {data['source']} {rows.shape[0]} x {rows.shape[1]}, {rows.nnz} ratings")
    command = command_line(args, backend, data["source"])

    if args.serving:  # keep the training figures of the last full run
        serving = time_serving(rows, args.hidden)
        print({k: round(v, 3) for k, v in serving.items()}, flush=True)
        path = Path(args.out) / f"{name}.json"
        previous = json.loads(path.read_text()) if path.is_file() else {}
        previous.pop("machine", None)
        payload = {
            **previous,
            "serving_seconds": serving,
            "serving_data": data,
            "serving_command": command,
            "serving_targets": SERVING_TARGETS,
        }
        write(name, payload, args.out)
        return

    model, settings = library_model(args)
    fit_calls = []
    variants = {"hem_aae": library_variant(model, rows, args.batch, fit_calls)}
    # The cheaper schedule of the generator step (eq 12 folded into the reconstruction step).
    from keras_hem import HEMAAE

    simultaneous = HEMAAE(
        hidden=args.hidden, seed=0, adversarial_update="simultaneous", input_dropout=0.0
    )
    simultaneous.compile()
    variants["hem_aae_simultaneous"] = library_variant(simultaneous, rows, args.batch, [])
    # Warm up the library first: fit builds the model, and so resolves its jit_compile.
    print("warm-up epochs (tracing, compiling)", flush=True)
    variants["hem_aae"]()
    jit = bool(model.jit_compile)
    extras = mining_inputs(rows, settings["depth"], settings["label_depth"])
    variants.update(hand_written_variants(rows, extras, args, settings, jit))
    for variant in VARIANTS[1:]:  # hem_aae_simultaneous's first epoch compiles it
        variants[variant]()
    fit_calls.clear()

    seconds, orders = interleave(variants, args.rounds)
    n_rows, n = rows.shape
    ratios = {f"hem_aae_over_{v}": ratio(seconds, "hem_aae", v) for v in VARIANTS[1:]}
    for numerator, denominator in INFO_RATIOS:
        ratios[f"{numerator}_over_{denominator}"] = ratio(seconds, numerator, denominator)
    result = {
        "backend": backend,
        "jit_compile": jit,
        "command": command,
        "data": data,
        "hidden": args.hidden,
        "batch_size": args.batch,
        "batches_per_epoch": len(batch_sizes(n_rows, args.batch)),
        "rounds": args.rounds,
        "settings": settings,
        "orders": orders,
        "seconds_per_round": seconds,
        "seconds": summarise(seconds, n_rows, n, args.hidden),
        "hem_aae_fit_call": {
            "per_round": fit_calls,
            "median": float(np.median(fit_calls)),
            "min": float(min(fit_calls)),
        },
        "ratios": ratios,
        "targets": TARGETS,
        "met": {k: ratios[k]["median"] <= bound for k, bound in TARGETS.items()},
    }
    path = Path(args.out) / f"{name}.json"
    if path.is_file():  # keep serving figures measured earlier
        previous = json.loads(path.read_text())
        result.update({k: v for k, v in previous.items() if k.startswith("serving")})
    write(name, result, args.out)
    print()
    print(markdown(result))
    table = compare(args.out, suffix)
    if table is not None:
        print()
        print(table)


if __name__ == "__main__":
    main()
