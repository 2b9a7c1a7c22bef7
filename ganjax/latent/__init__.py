"""Latent spaces of trained generators: encoders, code spaces, attribute vectors,
editing, synthesis of labeled data and the synthetic-data pipeline."""
