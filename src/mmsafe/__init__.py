"""mmsafe: measure how safe AI models are across modalities."""

__version__ = "0.1.0"
