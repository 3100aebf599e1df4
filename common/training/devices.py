"""Where stage 04 trains: the devices, mixed precision, and the multi-worker strategy (``TF_CONFIG``): which worker
is the chief, how a dataset is sharded over the workers, and how the workers wait for the chief.
"""

import logging

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)


def worker_role():
    """``(index, count)`` of this process among the machines that TF_CONFIG names for training: index 0 is
    the chief (TF_CONFIG's ``chief`` task, or else worker 0), which writes the run directory. ``(0, 1)``
    without TF_CONFIG."""
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    jobs = resolver.cluster_spec().as_dict()
    chiefs = len(jobs.get("chief", ()))
    count = chiefs + len(jobs.get("worker", ()))
    if count < 2:
        return 0, 1
    return resolver.task_id + (0 if resolver.task_type == "chief" else chiefs), count


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy with the reductions that Keras 3 asks of it (keras-team/keras#20585):
    ``fit`` hands ``reduce`` a whole (images, labels) batch, and each step's scalar metrics with ``axis=0``,
    where the parent takes one tensor and a scalar has no axis 0. Each tensor is reduced on its own, and a
    scalar across the replicas."""

    def reduce(self, reduce_op, value, axis):
        reduce_one = super().reduce

        def one(tensor):
            scalar = self.experimental_local_results(tensor)[0].shape.rank == 0
            return reduce_one(reduce_op, tensor, None if scalar else axis)

        return tf.nest.map_structure(one, value)


def setup_devices(mixed_precision):
    """Pick the distribution strategy and precision policy: mixed_float16 only with GPUs (mixed precision
    is many times slower on a CPU); MultiWorkerMirroredStrategy when TF_CONFIG names several machines (it
    must be made before TensorFlow runs its first op), MirroredStrategy with several GPUs on one.
    Returns ``(strategy, description)``."""
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.experimental.set_memory_growth(gpu, True)
    use_mixed = mixed_precision == "on" or (mixed_precision == "auto" and bool(gpus))
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    worker, workers = worker_role()
    if workers > 1:
        implementation = tf.distribute.experimental.CommunicationImplementation
        strategy = MultiWorkerStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=implementation.NCCL if gpus else implementation.RING
            )
        )
    else:
        strategy = tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    description = f"{len(gpus)} GPU(s)" if gpus else "CPU"
    if workers > 1:
        description += f" on worker {worker} of {workers}"
    return (
        strategy,
        f"{description}, {'mixed_float16' if use_mixed else 'float32'}, {strategy.num_replicas_in_sync} replica(s)",
    )


NAME_BYTES = 255  # the longest file name most file systems allow


def from_chief(strategy, text):
    """``text`` as the chief has it, on every worker: its UTF-8 bytes summed over the replicas, the chief's
    first replica giving them and every other one zeros. ``text`` itself on one machine."""
    if worker_role()[1] == 1:
        return text
    encoded = np.zeros(NAME_BYTES, np.int32)
    encoded[: len(text.encode("utf-8"))] = np.frombuffer(text.encode("utf-8"), np.uint8)
    values = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(encoded if context.replica_id_in_sync_group == 0 else 0 * encoded)
    )
    total = strategy.reduce("SUM", values, axis=None).numpy()
    return bytes(total.astype(np.uint8)).rstrip(b"\0").decode("utf-8")


def shard_by_data(dataset):
    """``dataset`` as the workers of a multi-worker run share it: DATA auto-sharding, every worker reads
    the whole dataset and keeps its replicas' slices of each global batch. FILE sharding has nothing to
    split here (the source is a list of paths, not files of records) and would give the workers unequal
    numbers of images, so unequal numbers of steps: a worker short of a batch leaves the others waiting in
    a collective op, and early stopping could stop one worker and not another. With DATA every worker
    takes the same steps over the same seeded order and augmentation, and skips an unreadable image as the
    others do; the cost is that each worker decodes every image. One machine: no effect."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
