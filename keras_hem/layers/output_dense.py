"""A dense output layer whose weights are stored one row per output unit."""

from __future__ import annotations

import keras
from keras import ops

from keras_hem.arguments import check_integer
from keras_hem.types import Tensor


@keras.saving.register_keras_serializable(package="keras_hem")
class OutputDense(keras.layers.Layer):
    """`activation(inputs @ kernel.T + bias)` with a `(units, input_dim)` kernel.

    The same function as `keras.layers.Dense`, with the kernel transposed: the weights of
    one output unit (one user, for HEM-AAE's decoder) are one contiguous row. Evaluating the
    layer at a few outputs only — what sparse training and bounded-memory serving do — then
    gathers whole rows (`keras_hem.ops.pair_dot`, `gather_columns`) instead of strided
    columns, four times faster on a CPU at MovieLens-25M width. The kernel is initialised as
    `kernel_initializer` would initialise a `Dense` kernel, transposed, so a seeded model
    starts from the same function as with `Dense`.

    Args:
        units: number of outputs.
        activation: activation name or callable (default: none).
        kernel_initializer: initializer of the `(input_dim, units)` Dense-layout kernel.
        bias_initializer: initializer of the bias.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Returns:
        Called on `(batch, input_dim)`: a `(batch, units)` tensor.

    Raises:
        ValueError: if `units` is not a positive integer.

    Examples:
        >>> import numpy as np
        >>> layer = OutputDense(3, kernel_initializer="ones")
        >>> np.asarray(layer(np.ones((2, 4), "float32"))).tolist()
        [[4.0, 4.0, 4.0], [4.0, 4.0, 4.0]]
        >>> tuple(layer.kernel.shape)
        (3, 4)
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        bias_initializer: str | keras.initializers.Initializer = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_integer("units", units, minimum=1)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape: tuple | dict) -> None:
        input_dim = int(input_shape[-1])

        def transposed(shape, dtype=None):
            return ops.transpose(self.kernel_initializer((shape[1], shape[0]), dtype=dtype))

        self.kernel = self.add_weight(
            shape=(self.units, input_dim), initializer=transposed, name="kernel"
        )
        self.bias = self.add_weight(
            shape=(self.units,), initializer=self.bias_initializer, name="bias"
        )

    def call(self, inputs: Tensor) -> Tensor:
        logits = ops.matmul(inputs, ops.transpose(ops.cast(self.kernel, inputs.dtype)))
        return self.activation(logits + ops.cast(self.bias, inputs.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            units=self.units,
            activation=keras.activations.serialize(self.activation),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
