"""Data: dataset adapters, the group split of stage 03 and the tf.data input pipeline. Imports core, io, faces."""
