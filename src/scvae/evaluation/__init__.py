"""Evaluation: ELBO terms, latent values, predictions and clustering metrics."""
