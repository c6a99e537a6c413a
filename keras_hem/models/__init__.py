"""Models of keras-hem: the adversarial autoencoder (any parts) and HEM-AAE (the paper's).

What belongs here: `keras.Model` subclasses that describe networks and their losses. The
backend-specific half of the training step lives in `steps/`, one file per backend.
"""

from keras_hem.models.adversarial_autoencoder import AdversarialAutoencoder
from keras_hem.models.hem_aae import HEMAAE

__all__ = ["HEMAAE", "AdversarialAutoencoder"]
