"""Training (stage 04): fitting, metric-learning losses and self-blended pseudo-fakes. Imports core to
evaluation."""
