"""Align-Then-Steer: latent alignment and guided fine-tuning for generative robot policies."""

__version__ = "0.1.0"
