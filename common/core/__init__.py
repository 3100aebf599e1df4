"""The bottom layer: configuration, registries, errors, atomic files, manifests, model-file metadata and the
per-video runner. Imports nothing of common outside common.core."""
