"""The three optimizers of an adversarial autoencoder, held as one `model.optimizer`.

Keras's trainers carry the state of `model.optimizer` alone through `fit` (the JAX trainer
passes `model.optimizer.variables` in and out of its compiled step). The adversarial
autoencoder updates three sets of weights with three optimizers, so `model.optimizer` is an
`OptimizerGroup` whose `variables` are all of theirs: the discriminator's and the generator's
moments then advance, survive `fit` and are saved like the autoencoder's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from keras_hem.types import Tensor


@keras.saving.register_keras_serializable(package="keras_hem")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Several optimizers, each updating its own variables, seen by Keras as one.

    The group applies nothing itself: the training step calls each member's `apply`. What
    Keras asks of `model.optimizer` goes to the members: `variables` (all members' variables,
    each once), `iterations` and `learning_rate` (the first member's, so that
    `ReduceLROnPlateau` and `LearningRateScheduler` act on the main optimizer),
    `finalize_variable_values` and saving (each member saves its own variables).

    Args:
        optimizers: dict of role name -> optimizer; the first is the main one. One optimizer
            may fill several roles (its variables are then listed once).
        build_members: callable that builds the members' variables (the model supplies it,
            since only the model knows which variables each member updates).
        name: name of the group.

    Returns:
        An optimizer usable as `model.optimizer`.

    Raises:
        ValueError: if `optimizers` is empty or holds something that is not an optimizer.

    Examples:
        >>> import keras
        >>> group = OptimizerGroup({"main": keras.optimizers.Adam(0.01),
        ...                         "critic": keras.optimizers.SGD(0.1)})
        >>> round(float(group.members["critic"].learning_rate.numpy()), 4)
        0.1
        >>> round(float(group.learning_rate.numpy()), 4)
        0.01
    """

    def __init__(
        self,
        optimizers: dict[str, keras.optimizers.Optimizer],
        build_members: Callable[[], None] | None = None,
        name: str = "optimizer_group",
    ) -> None:
        super().__init__(learning_rate=0.0, name=name)
        if not optimizers:
            raise ValueError("`optimizers` must name at least one optimizer, got none.")
        for role, optimizer in optimizers.items():
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise ValueError(
                    f"optimizers[{role!r}] must be a keras optimizer, got {optimizer!r}."
                )
        self.members = dict(optimizers)
        self.build_members = build_members

    @property
    def main(self) -> keras.optimizers.Optimizer:
        """The first member: the one `learning_rate` and `iterations` refer to."""
        return next(iter(self.members.values()))

    def unique_members(self) -> list[keras.optimizers.Optimizer]:
        """The members, each optimizer once, in role order."""
        seen, out = set(), []
        for optimizer in self.members.values():
            if id(optimizer) not in seen:
                seen.add(id(optimizer))
                out.append(optimizer)
        return out

    @property
    def variables(self) -> list[keras.Variable]:
        return [v for optimizer in self.unique_members() for v in optimizer.variables]

    @property
    def iterations(self) -> keras.Variable:
        return self.main.iterations

    @property
    def learning_rate(self) -> Tensor:
        return self.main.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        # Optimizer.__init__ sets a learning rate before the members exist.
        if "members" in self.__dict__:
            self.main.learning_rate = value

    def _get_current_learning_rate(self) -> Tensor:
        if "members" not in self.__dict__:
            return super()._get_current_learning_rate()
        return self.main._get_current_learning_rate()

    def scale_loss(self, loss: Tensor) -> Tensor:
        return self.main.scale_loss(loss)

    def build(self, var_list: list[keras.Variable]) -> None:
        if self.build_members is not None:
            self.build_members()
        self.built = all(optimizer.built for optimizer in self.unique_members())

    def apply(
        self, grads: list[Tensor], trainable_variables: list[keras.Variable] | None = None
    ) -> None:
        raise NotImplementedError(
            "OptimizerGroup applies no gradients itself; call one of its members "
            f"({', '.join(self.members)}) instead."
        )

    def finalize_variable_values(self, var_list: list[keras.Variable]) -> None:
        for optimizer in self.unique_members():
            if optimizer.built:
                optimizer.finalize_variable_values(optimizer._trainable_variables)

    # Each member saves (and loads) its own variables as a child of the group.
    def save_own_variables(self, store: dict) -> None:
        pass

    def load_own_variables(self, store: dict) -> None:
        pass

    def get_config(self) -> dict:
        config = super().get_config()
        config["optimizers"] = {
            role: keras.saving.serialize_keras_object(optimizer)
            for role, optimizer in self.members.items()
        }
        return config

    @classmethod
    def from_config(cls, config: dict) -> OptimizerGroup:
        config = dict(config)
        optimizers = {
            role: keras.saving.deserialize_keras_object(value)
            for role, value in config.pop("optimizers").items()
        }
        return cls(optimizers, name=config.get("name", "optimizer_group"))
