"""A row convolution whose kernel is made from global statistics (GLocal-K's global kernel)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_hem.arguments import check_integer, check_number
from keras_hem.types import ArrayLike, Tensor


@keras.saving.register_keras_serializable(package="keras_hem")
class GlobalKernelConv(keras.layers.Layer):
    """`activation(conv1d(row, g))` with a kernel `g` computed from statistics of the data.

    GLocal-K (Han et al. 2021) fine-tunes a pre-trained autoencoder on its input convolved
    with a *global kernel*: the average-pooled reconstruction of the whole matrix, one number
    per position, is dotted with learnt weights to give a small convolution kernel, so the
    kernel summarises the data set rather than one row. This layer is that step for rows of
    width `n`:

        g = e_centre + dot_scale * statistics @ pool_weights      # (kernel_size,)
        output[b, j] = activation(sum_t g[t] * row[b, j + t - kernel_size // 2])

    with zero padding at the ends. `statistics` (`(n,)`, not trained) holds the pooled
    statistics; `set_statistics` assigns them. `pool_weights` (`(n, kernel_size)`, trained)
    start at 0 and `e_centre` is the identity kernel, so the layer starts as the identity
    whatever the statistics: a fine-tuning stage starts exactly at the pre-trained model.
    While `statistics` are 0 (before they are set) the layer stays the identity and its
    weights get no gradient.

    Two differences from GLocal-K, both for mini-batches: the convolution runs along each row
    only (a 2-D one would mix a batch's rows, which are a random sample, so a row's output
    would depend on its batch), and the statistics are pooled over rows (one per column, so
    every batch holds all of them) and set once, not recomputed at every step.

    Args:
        kernel_size: width of the kernel; odd, so that it has a centre (GLocal-K: 3).
        dot_scale: scale of the statistics' dot product (GLocal-K's `dot_scale`: 1).
        activation: activation name or callable (default: none; GLocal-K uses `"relu"`,
            which leaves non-negative rows unchanged at the start).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Returns:
        Called on `(batch, n)`: a `(batch, n)` tensor.

    Raises:
        ValueError: if `kernel_size` is not a positive odd integer, `dot_scale` is not a
            positive finite number, or (from `set_statistics`) the statistics have the wrong
            shape or are not finite.

    Example:
        >>> import numpy as np
        >>> layer = GlobalKernelConv(kernel_size=3)
        >>> rows = np.array([[1.0, 2.0, 3.0, 4.0]], "float32")
        >>> np.asarray(layer(rows)).tolist()  # the identity until trained
        [[1.0, 2.0, 3.0, 4.0]]
        >>> layer.set_statistics(np.ones(4))
        >>> _ = layer.pool_weights.assign(np.full((4, 3), 0.25, "float32"))  # g = [1, 2, 1]
        >>> np.asarray(layer(rows)).tolist()
        [[4.0, 8.0, 12.0, 11.0]]
    """

    def __init__(
        self,
        kernel_size: int = 3,
        dot_scale: float = 1.0,
        activation: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = check_integer("kernel_size", kernel_size, minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"`kernel_size` must be odd (the kernel needs a centre), got "
                f"kernel_size={kernel_size!r}."
            )
        self.dot_scale = check_number("dot_scale", dot_scale, strict=True, finite=True)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape: tuple | dict) -> None:
        n = int(input_shape[-1])
        self.statistics = self.add_weight(
            shape=(n,), initializer="zeros", trainable=False, name="statistics"
        )
        self.pool_weights = self.add_weight(
            shape=(n, self.kernel_size), initializer="zeros", name="pool_weights"
        )

    def set_statistics(self, values: ArrayLike) -> None:
        """Assign the pooled statistics, one per column (e.g. a reconstruction's column means).

        Args:
            values: `(n,)` finite numbers.

        Raises:
            ValueError: for another shape or a non-finite value.
        """
        values = np.asarray(values, dtype="float32")
        expected = tuple(self.statistics.shape)
        if values.shape != expected:
            raise ValueError(
                f"The statistics must have shape {expected} (one per column), got {values.shape}."
            )
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(f"The statistics must be finite; entry {bad} is {values[bad]}.")
        self.statistics.assign(values)

    def global_kernel(self) -> Tensor:
        """`g`, `(kernel_size,)`: the identity kernel plus the statistics' scaled dot product."""
        centre = ops.one_hot(self.kernel_size // 2, self.kernel_size, dtype="float32")
        pooled = ops.matmul(
            ops.cast(self.statistics, "float32")[None, :], ops.cast(self.pool_weights, "float32")
        )[0]
        return centre + self.dot_scale * pooled

    def call(self, inputs: Tensor) -> Tensor:
        kernel = ops.cast(self.global_kernel(), inputs.dtype)[:, None, None]
        out = ops.conv(inputs[:, :, None], kernel, padding="same", data_format="channels_last")
        return self.activation(out[:, :, 0])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            dot_scale=self.dot_scale,
            activation=keras.activations.serialize(self.activation),
        )
        return config
