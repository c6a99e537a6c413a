"""Type aliases of the public API, for annotations and the API reference.

keras-hem runs on several Keras backends, so a "tensor" is whatever the active backend uses
(`tf.Tensor`, `jax.Array`, ...) or anything `keras.ops` converts (NumPy arrays, lists).
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np
import scipy.sparse as sp

#: A backend tensor, or anything `keras.ops` converts to one.
Tensor = Any

#: A NumPy array or anything `numpy.asarray` accepts.
ArrayLike = np.ndarray | Any

#: A miner's output: `(anchors, positives, negatives, valid)`; `valid` may be `None`.
Triplets = tuple[Tensor, Tensor, Tensor, Tensor | None]

#: Rating rows: a dense NumPy array or a `scipy.sparse` matrix or array, whose stored entries
#: are the observed ratings (`sparray` is quoted: it is public from SciPy 1.11 on).
Rows = Union[np.ndarray, sp.spmatrix, "sp.sparray"]
