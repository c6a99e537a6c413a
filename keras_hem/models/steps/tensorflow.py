"""TensorFlow: gradients with `tf.GradientTape`, updates in place, `tf.distribute` aware."""

import tensorflow as tf


def train_step(model, data):
    """One training step of `model` (an `AdversarialAutoencoder`) on a batch.

    Under a `tf.distribute` strategy each replica sees its share of the batch; its losses
    are per-replica means and the optimizers sum gradients over replicas, so each loss is
    divided by the number of replicas.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync

    def minimize(loss_fn, variables, optimizer):
        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
            scaled = optimizer.scale_loss(loss / replicas)
        optimizer.apply(tape.gradient(scaled, variables), variables)
        return aux

    return model.train_phases(data, minimize, run=_call)


def test_step(model, data):
    """One evaluation step: losses and metrics on a batch, no update."""
    return _call(lambda: model.evaluate_batch(data))


def _call(fn):
    return fn()
