"""Version of keras-hem, the single source read by the build and by `keras_hem.__version__`."""

__version__ = "0.1.0"
