"""Evaluation: metrics, face -> frame -> video aggregation, the review rule, a run's report and its
explanations. Imports core to models."""
