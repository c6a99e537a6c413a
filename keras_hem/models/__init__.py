"""Models of keras-hem."""

from keras_hem.models.adversarial_autoencoder import AdversarialAutoencoder
from keras_hem.models.hem_aae import HEMAAE

__all__ = ["HEMAAE", "AdversarialAutoencoder"]
