"""A dense layer whose weights are gated by a learnt local kernel (kernelNet / GLocal-K)."""

from __future__ import annotations

import keras
from keras import ops

from keras_hem.arguments import check_integer, check_number
from keras_hem.types import Tensor


@keras.saving.register_keras_serializable(package="keras_hem")
class LocalKernelDense(keras.layers.Layer):
    """`activation(inputs @ (kernel * K) + bias)`, `K` a learnt finite-support kernel.

    Each input unit `i` and each output unit `j` get a point in a small space (`u_i`, `v_j`,
    `kernel_dim` numbers each); the weight between them is gated by
    `K_ij = max(0, 1 - ||u_i - v_j||^2)`, which is exactly 0 once the two points are more
    than 1 apart. Training moves the points, so the layer learns which connections to keep:
    the sparsified dense layer of kernelNet (Muller et al. 2018) that GLocal-K (Han et al.
    2021) uses as its local kernel. The points start close together (a normal with standard
    deviation `embedding_stddev`, 0.001 by default), so the layer starts as a `Dense` layer
    with the same kernel.

    Regularisation is left to the model, as for `keras.layers.Dense`: the weights are named
    `kernel`, `bias`, `input_embeddings` and `output_embeddings`, and `kernel_sparsity()`
    gives `sum(K**2)`, GLocal-K's sparsity penalty, to add to a loss.

    Args:
        units: number of outputs.
        kernel_dim: size of the points `u_i`, `v_j` (GLocal-K: 5).
        activation: activation name or callable (default: none).
        kernel_initializer: initializer of the `(input_dim, units)` kernel.
        bias_initializer: initializer of the bias.
        embedding_stddev: standard deviation of the points' normal initializer.
        seed: seed of the points' initializer.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Returns:
        Called on `(batch, input_dim)`: a `(batch, units)` tensor.

    Raises:
        ValueError: if `units` or `kernel_dim` is not a positive integer, or
            `embedding_stddev` is not a positive number.

    Example:
        >>> import numpy as np
        >>> layer = LocalKernelDense(3, kernel_initializer="ones", embedding_stddev=1e-6)
        >>> np.asarray(layer(np.ones((2, 4), "float32"))).round(3).tolist()
        [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
        >>> tuple(layer.local_kernel().shape)
        (4, 3)
    """

    def __init__(
        self,
        units: int,
        kernel_dim: int = 5,
        activation: str | None = None,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        bias_initializer: str | keras.initializers.Initializer = "zeros",
        embedding_stddev: float = 1e-3,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_integer("units", units, minimum=1)
        self.kernel_dim = check_integer("kernel_dim", kernel_dim, minimum=1)
        embedding_stddev = check_number("embedding_stddev", embedding_stddev, strict=True)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.embedding_stddev = float(embedding_stddev)
        self.seed = seed

    def build(self, input_shape: tuple | dict) -> None:
        input_dim = int(input_shape[-1])

        def points(offset):
            # Two seeds: one seeded initializer draws the same numbers at every call.
            seed = None if self.seed is None else self.seed + offset
            return keras.initializers.RandomNormal(stddev=self.embedding_stddev, seed=seed)

        self.kernel = self.add_weight(
            shape=(input_dim, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer=self.bias_initializer, name="bias"
        )
        self.input_embeddings = self.add_weight(
            shape=(input_dim, self.kernel_dim), initializer=points(0), name="input_embeddings"
        )
        self.output_embeddings = self.add_weight(
            shape=(self.units, self.kernel_dim), initializer=points(1), name="output_embeddings"
        )

    def local_kernel(self) -> Tensor:
        """`K`, `(input_dim, units)`: `max(0, 1 - ||u_i - v_j||^2)`."""
        u, v = self.input_embeddings, self.output_embeddings
        # ||u - v||^2 = ||u||^2 + ||v||^2 - 2 u.v, one matrix product instead of a 3-D block.
        squared = (
            ops.sum(ops.square(u), axis=1, keepdims=True)
            + ops.sum(ops.square(v), axis=1)[None, :]
            - 2.0 * ops.matmul(u, ops.transpose(v))
        )
        # Rounding can take the expansion a little below 0: K stays in [0, 1].
        return ops.relu(1.0 - ops.maximum(squared, 0.0))

    def effective_kernel(self) -> Tensor:
        """`kernel * K`: the `(input_dim, units)` weights the layer applies."""
        return self.kernel * self.local_kernel()

    def kernel_sparsity(self) -> Tensor:
        """`sum(K**2)`, the penalty that drives connections to exactly 0 (GLocal-K)."""
        return ops.sum(ops.square(self.local_kernel()))

    def call(self, inputs: Tensor) -> Tensor:
        kernel = ops.cast(self.effective_kernel(), inputs.dtype)
        return self.activation(ops.matmul(inputs, kernel) + ops.cast(self.bias, inputs.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            kernel_dim=self.kernel_dim,
            activation=keras.activations.serialize(self.activation),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            embedding_stddev=self.embedding_stddev,
            seed=self.seed,
        )
        return config
