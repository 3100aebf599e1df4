"""Inference (stage 05): scoring videos and the analyst's HTML report. Imports core to evaluation."""
