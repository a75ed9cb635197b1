"""LASH: multi-exit training (layer_weights, layer_lr_scales, routing_threshold) and ASHEM."""

__version__ = "0.3.0"
