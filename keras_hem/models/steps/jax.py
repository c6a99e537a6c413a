"""JAX: a stateless step that threads every variable's value through the compiled function.

Keras's JAX trainer calls `train_step(state, data)` with the values of the model's trainable
and non-trainable variables, of `model.optimizer.variables` (for the adversarial autoencoder:
all three optimizers, see `OptimizerGroup`) and of the metrics, and expects their new values
back. `FunctionalState` keeps one value per variable; each phase runs the model's ordinary
(stateful-looking) code inside a `keras.StatelessScope` that maps every variable to its
current value, and collects what the code assigned. Gradients come from `jax.value_and_grad`
over the values of the variables being trained.

Under a `keras.distribution` (e.g. `DataParallel`) the step sees the global batch, so the
miner picks its triplets over the whole batch, never per device.
"""

import jax
import keras
from keras import ops


class FunctionalState:
    """The current value of each of a list of variables, updated phase by phase.

    Args:
        variables: the Keras variables the step may read or assign.
        values: their values, in the same order.
    """

    def __init__(self, variables, values):
        self.variables = list(variables)
        self.values = {id(v): value for v, value in zip(self.variables, values, strict=True)}

    def scope(self, overrides=None):
        """A `StatelessScope` mapping every variable to its value (or its override)."""
        values = self.values if not overrides else {**self.values, **overrides}
        return keras.StatelessScope(state_mapping=[(v, values[id(v)]) for v in self.variables])

    def assigned(self, scope):
        """`{id(variable): new value}` for the variables that `scope` saw assigned."""
        new = ((id(v), scope.get_current_value(v)) for v in self.variables)
        return {key: value for key, value in new if value is not None}

    def read(self, variables):
        """The current values of `variables`."""
        return [self.values[id(v)] for v in variables]

    def run(self, fn):
        """Call `fn()` with every variable at its current value; keep what it assigns."""
        with self.scope() as scope:
            out = fn()
        self.values.update(self.assigned(scope))
        return out

    def minimize(self, loss_fn, variables, optimizer):
        """One gradient step of `optimizer` on `variables` for `loss_fn() -> (loss, aux)`."""
        variables = list(variables)

        def scaled_loss(trained):
            with self.scope(dict(zip(map(id, variables), trained, strict=True))) as scope:
                loss, aux = loss_fn()
                scaled = optimizer.scale_loss(loss)
            # Non-trainable updates made on the way (e.g. seed generators), as values.
            return scaled, (_as_arrays(aux), self.assigned(scope))

        (_, (aux, updates)), grads = jax.value_and_grad(scaled_loss, has_aux=True)(
            self.read(variables)
        )
        trained = {id(v) for v in variables}
        self.values.update({k: v for k, v in updates.items() if k not in trained})
        self.apply(optimizer, grads, variables)
        return aux

    def apply(self, optimizer, grads, variables):
        """`optimizer.apply(grads, variables)` on the current values.

        A `LossScaleOptimizer` is applied here by hand: its own `apply` branches with
        `ops.cond` around assignments, which a stateless scope cannot carry out of a traced
        branch, and its `stateless_apply` updates every variable it was built on, whereas
        the generator step updates the encoder alone.
        """
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return self._apply_loss_scaled(optimizer, grads, variables)
        self.run(lambda: optimizer.apply(grads, variables))

    def _apply_loss_scaled(self, optimizer, grads, variables):
        scale = self.values[id(optimizer.dynamic_scale)]
        counter = self.values[id(optimizer.step_counter)]
        finite = optimizer.check_finite(grads)
        before = dict(self.values)
        self.apply(optimizer.inner_optimizer, [g / scale for g in grads], variables)
        # Non-finite gradients: keep every old value, halve the scale, restart the count.
        for key, value in list(self.values.items()):
            if value is not before[key]:
                self.values[key] = ops.where(finite, value, before[key])
        grow = ops.equal(counter, optimizer.dynamic_growth_steps - 1)
        self.values[id(optimizer.dynamic_scale)] = ops.where(
            finite, ops.where(grow, scale * 2.0, scale), scale * 0.5
        )
        self.values[id(optimizer.step_counter)] = ops.where(
            finite & ~grow, counter + 1, ops.zeros_like(counter)
        )


def _as_arrays(tree):
    # Auxiliary outputs of `jax.value_and_grad` must be arrays (losses may be Python 0.0).
    return jax.tree_util.tree_map(jax.numpy.asarray, tree)


def train_step(model, state, data):
    """One stateless training step: `(logs, new_state)` from `state` and a batch."""
    trainable, non_trainable, optimizer_values, metric_values = state
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    functional = FunctionalState(
        [v for group in groups for v in group],
        [*trainable, *non_trainable, *optimizer_values, *metric_values],
    )
    logs = model.train_phases(data, functional.minimize, run=functional.run)
    return logs, tuple(functional.read(group) for group in groups)


def test_step(model, state, data):
    """One stateless evaluation step: `(logs, new_state)`."""
    trainable, non_trainable, metric_values = state
    groups = (model.trainable_variables, model.non_trainable_variables, model.metrics_variables)
    functional = FunctionalState(
        [v for group in groups for v in group], [*trainable, *non_trainable, *metric_values]
    )
    logs = functional.run(lambda: model.evaluate_batch(data))
    return logs, tuple(functional.read(group) for group in groups)
