"""Explanations of a trained run: Grad-CAM heatmaps over test faces, and a t-SNE of the head's embeddings
before and after training.

Grad-CAM (Selvaraju et al., 2017) is taken at the backbone's last feature map: the last layer inside the
nested backbone whose output is a 4-D (batch, h, w, channels) map, found by walking the backbone's layers
from the end (``last_feature_map_layer``), so every registered backbone works without a list of layer
names. The model is then run layer by layer with that map exposed (``FeatureMapPath``); the path is
checked against the model's own output on every call, so a heatmap is always the gradient of the score
the model gives.

The t-SNE embeds the input of the ``p_fake`` layer (the last Dense layer of the head) for the trained
model and for the same architecture with fresh random weights, side by side in one figure.
"""

import logging
import time
from pathlib import Path

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from common.core.errors import UserError
from common.core.manifest import FAKE, LABEL_NAMES, REAL, read_table
from common.core.model_file import GRADCAM_PNG, MODEL_FILE, TEST_FACES, TSNE_PNG, load_model, read_run_config
from common.data.pipeline import decode_image, make_dataset
from common.evaluation.metrics import save_figure_atomically
from common.models.classifier import BACKBONE_LAYER_NAME, OUTPUT_LAYER_NAME, backbone_pooling, build_model

log = logging.getLogger(__name__)


GROUPS = (("correct", REAL), ("correct", FAKE), ("wrong", REAL), ("wrong", FAKE))
LABEL_COLOURS = {REAL: "tab:blue", FAKE: "tab:red"}
PANEL_INCHES = 2.0  # one Grad-CAM panel; figures are saved at 100 dpi
MAX_COLUMNS = 8  # Grad-CAM panels per row; a larger group takes more rows
HEATMAP_ALPHA = 0.45
GRADCAM_BATCH = 16  # faces per Grad-CAM pass: the backward pass holds every activation in memory
PATH_TOLERANCE = 1e-3  # largest |P(fake)| difference between the Grad-CAM path and the model
SPATIAL_POOLING = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)


def last_feature_map_layer(backbone):
    """The layer of ``backbone`` (a keras.Model) whose 4-D output is the last spatial feature map.

    Walks the layers from the end and takes the first one with a (batch, h, w, channels) output, so the
    global pooling that ends every backbone is skipped. Local pooling layers right before it are stepped
    over as well (small_cnn ends in one): they only coarsen the same map, and Grad-CAM is sharper on the
    finer one. ``ValueError`` when the backbone has no 4-D output at all.
    """
    spatial = [layer for layer in backbone.layers if len(layer.output.shape) == 4]
    if not spatial:
        raise ValueError(f"backbone '{backbone.name}' has no layer with a 4-D (batch, h, w, c) output")
    index = len(spatial) - 1
    while index > 0 and isinstance(spatial[index], SPATIAL_POOLING):
        index -= 1
    return spatial[index]


def _logit_of(output_layer, features):
    """The pre-sigmoid score of a Dense sigmoid output layer, or ``None`` for any other output layer."""
    is_sigmoid_dense = isinstance(output_layer, keras.layers.Dense) and (
        output_layer.activation is keras.activations.sigmoid
    )
    if not is_sigmoid_dense:
        return None
    logit = keras.ops.matmul(features, output_layer.kernel)
    return logit + output_layer.bias if output_layer.use_bias else logit


class FeatureMapPath:
    """A model made by ``common.models.classifier.build_model`` (a chain: input, preprocessing, nested backbone,
    head), run layer by layer in inference mode with the backbone's last feature map exposed.

    ``run(images)`` -> dict with ``feature_map`` (n, h, w, c), ``score`` (what Grad-CAM differentiates),
    ``p_fake`` (n,) and ``p_fake_of_score`` (P(fake) computed from the score, to check it). The score is
    the logit of the sigmoid ``p_fake`` layer when it is a Dense layer: its gradient is that of P(fake)
    divided by P(fake) (1 - P(fake)), a positive factor per image that normalising the heatmap removes,
    and it does not vanish where P(fake) saturates at 0 or 1.
    """

    def __init__(self, model):
        self.model = model
        self.backbone = model.get_layer(BACKBONE_LAYER_NAME)
        self.feature_layer = last_feature_map_layer(self.backbone)
        self.backbone_with_map = keras.Model(
            self.backbone.inputs, [self.feature_layer.output, self.backbone.output], name="backbone_with_map"
        )
        self.output_layer = model.get_layer(OUTPUT_LAYER_NAME)
        self.layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        if self.layers[-1] is not self.output_layer:
            raise ValueError(f"the model's last layer is not '{OUTPUT_LAYER_NAME}'")

    def run(self, images):
        x = images
        feature_map = None
        for layer in self.layers[:-1]:
            if layer is self.backbone:
                feature_map, x = self.backbone_with_map(x, training=False)
            else:
                x = layer(x, training=False)
        p_fake = self.output_layer(x, training=False)
        logit = _logit_of(self.output_layer, x)
        score = p_fake if logit is None else logit
        return {
            "feature_map": feature_map,
            "score": tf.reshape(score, [-1]),
            "p_fake": tf.reshape(tf.cast(p_fake, tf.float32), [-1]),
            "p_fake_of_score": tf.reshape(
                tf.cast(p_fake if logit is None else tf.sigmoid(logit), tf.float32), [-1]
            ),
        }


def gradcam(model, images):
    """Grad-CAM heatmaps of P(fake) for a batch of raw 0..255 RGB ``images`` (n, size, size, 3).

    Per image: weights_c = mean over h, w of d score / d A_c at the backbone's last feature map A;
    heatmap = relu(sum_c weights_c A_c), resized to the image size and divided by its maximum (all zeros
    where the maximum is 0: nothing in the map raises P(fake)). Returns ``(heatmaps, p_fake)``: float32
    arrays of shape (n, size, size) in 0..1 and (n,). ``RuntimeError`` when the layer-by-layer path does
    not give the model's own P(fake).
    """
    path = FeatureMapPath(model)
    images = tf.convert_to_tensor(np.asarray(images, np.float32))
    with tf.GradientTape() as tape:
        tape.watch(images)  # records the whole computation, even through frozen (non-trainable) layers
        outputs = path.run(images)
    gradients = tape.gradient(outputs["score"], outputs["feature_map"])
    if gradients is None:
        raise RuntimeError(f"P(fake) does not depend on layer '{path.feature_layer.name}'")
    expected = tf.reshape(tf.cast(model(images, training=False), tf.float32), [-1])
    difference = max(
        float(tf.reduce_max(tf.abs(expected - outputs[key]))) for key in ("p_fake", "p_fake_of_score")
    )
    if difference > PATH_TOLERANCE:
        raise RuntimeError(
            f"the Grad-CAM path differs from the model by {difference:.2g} in P(fake): "
            "the model is not the chain common.models.classifier.build_model makes"
        )
    feature_map = tf.cast(outputs["feature_map"], tf.float32)
    weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2))
    maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", feature_map, weights))
    size = images.shape[1:3]
    heatmaps = tf.image.resize(maps[..., None], size, method="bilinear")[..., 0].numpy()
    peaks = heatmaps.reshape(len(heatmaps), -1).max(axis=1)
    scale = np.where(peaks > 0, 1.0 / np.where(peaks > 0, peaks, 1.0), 0.0)
    heatmaps = np.clip(heatmaps * scale[:, None, None], 0.0, 1.0).astype(np.float32)
    return heatmaps, outputs["p_fake"].numpy()


def sample_faces(faces, samples, seed, threshold=0.5):
    """Up to ``samples`` rows of ``faces`` (columns ``label``, ``p_fake``) spread over the outcome groups
    correct-real, correct-fake, wrong-real, wrong-fake (taken in turn, each group shuffled with ``seed``).

    Returns the chosen rows ordered by group, with a column ``group`` ("correct real", ...).
    """
    rng = np.random.default_rng(seed)
    predicted = (faces["p_fake"].to_numpy() >= threshold).astype(int)
    correct = predicted == faces["label"].to_numpy()
    queues = []
    for outcome, label in GROUPS:
        in_group = (correct == (outcome == "correct")) & (faces["label"].to_numpy() == label)
        queues.append(list(rng.permutation(faces.index[in_group])))
    chosen = [[] for _ in GROUPS]
    taken = 0
    while taken < samples and any(queues):
        for queue, picked in zip(queues, chosen):
            if queue and taken < samples:
                picked.append(queue.pop())
                taken += 1
    names = [f"{outcome} {LABEL_NAMES[label]}" for outcome, label in GROUPS]
    order = [index for picked in chosen for index in picked]
    groups = [name for name, picked in zip(names, chosen) for _ in picked]
    return faces.loc[order].assign(group=groups)


def gradcam_layout(groups):
    """Rows of the Grad-CAM figure: a list of (group name, positions of its panels), one group per row,
    a group of more than ``MAX_COLUMNS`` faces over several rows. Returns ``(rows, columns)``."""
    names = list(dict.fromkeys(groups))
    members = {name: [index for index, group in enumerate(groups) if group == name] for name in names}
    columns = min(MAX_COLUMNS, max((len(indices) for indices in members.values()), default=1))
    rows = []
    for name in names:
        indices = members[name]
        rows.extend((name, indices[start : start + columns]) for start in range(0, len(indices), columns))
    return rows, columns


def plot_gradcam(images, heatmaps, labels, p_fake, groups, out_png, title="Grad-CAM of P(fake)"):
    """One figure of faces with their heatmaps overlaid, a row per outcome group (its name at the left),
    each panel captioned "label, P(fake)=0.93". Panels are ``PANEL_INCHES`` square. Returns the path."""
    rows, columns = gradcam_layout(list(groups))
    figure, axes = plt.subplots(
        len(rows), columns, figsize=(columns * PANEL_INCHES, len(rows) * PANEL_INCHES), squeeze=False
    )
    for row_axes, (group, indices) in zip(axes, rows):
        for column, ax in enumerate(row_axes):
            if column >= len(indices):
                ax.axis("off")
                continue
            index = indices[column]
            ax.imshow(np.clip(images[index], 0, 255).astype(np.uint8))
            ax.imshow(heatmaps[index], cmap="jet", alpha=HEATMAP_ALPHA, vmin=0.0, vmax=1.0)
            ax.set_title(f"{LABEL_NAMES[int(labels[index])]}, P(fake)={p_fake[index]:.2f}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        row_axes[0].set_ylabel(group, fontsize=10)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return Path(save_figure_atomically(figure, out_png))


def tsne_perplexity(samples):
    """t-SNE's perplexity for ``samples`` points: sklearn's 30, lowered so it stays below the count."""
    return float(max(1.0, min(30.0, (samples - 1) / 3.0)))


def tsne_2d(embeddings, seed):
    """Two-dimensional t-SNE of the rows of ``embeddings`` (at least 3 rows)."""
    embeddings = np.asarray(embeddings, np.float64)
    if len(embeddings) < 3:
        raise ValueError(f"t-SNE needs at least 3 faces, got {len(embeddings)}")
    spread = float(np.ptp(embeddings)) if embeddings.size else 0.0
    tsne = TSNE(
        n_components=2,
        perplexity=tsne_perplexity(len(embeddings)),
        init="pca" if spread > 0 else "random",  # PCA of identical points divides by a zero spread
        random_state=seed,
    )
    return tsne.fit_transform(embeddings)


def embedding_model(model):
    """A model from the same input to the input of the ``p_fake`` layer: the head's last embedding."""
    return keras.Model(model.inputs, model.get_layer(OUTPUT_LAYER_NAME).input, name="embedding")


def embed_faces(model, files, image_size, batch_size=64):
    """The head's embeddings (n, d) of face image files, decoded as training decoded them."""
    data = make_dataset(files, np.zeros(len(files)), image_size, batch_size, training=False, cache=False)
    embeddings = embedding_model(model).predict(data, verbose=0)
    return np.asarray(embeddings, np.float64).reshape(len(files), -1)


def plot_tsne(panels, labels, out_png):
    """Side-by-side scatter plots of 2-D points coloured by label (real blue, fake red), one per
    ``(title, points)`` in ``panels``; one legend. Returns the path."""
    labels = np.asarray(labels, int)
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 5), squeeze=False)
    for ax, (title, points) in zip(axes[0], panels):
        for label in (REAL, FAKE):
            chosen = labels == label
            ax.scatter(
                points[chosen, 0], points[chosen, 1], s=12, alpha=0.7, c=LABEL_COLOURS[label], linewidths=0
            )
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [
        Line2D([], [], marker="o", linestyle="", color=LABEL_COLOURS[label], label=LABEL_NAMES[label])
        for label in (REAL, FAKE)
    ]
    axes[0][-1].legend(handles=handles, loc="best")
    figure.tight_layout()
    return Path(save_figure_atomically(figure, out_png))


def untrained_copy(model, name, image_size, seed):
    """The architecture of ``model`` rebuilt by ``build_model`` with fresh random weights (seeded): the
    same backbone, global pooling, size, Dense widths and dropout as the trained model's head."""
    backbone_index = model.layers.index(model.get_layer(BACKBONE_LAYER_NAME))
    head = model.layers[backbone_index + 1 :]
    dense_units = [layer.units for layer in head[:-1] if isinstance(layer, keras.layers.Dense)]
    dropouts = [layer.rate for layer in head if isinstance(layer, keras.layers.Dropout)]
    keras.utils.set_random_seed(seed)
    return build_model(
        name,
        image_size,
        weights="none",
        dropout=dropouts[0] if dropouts else 0.0,
        dense_units=dense_units,
        pooling=backbone_pooling(model) or "auto",
    )


def check_run_dir(run_dir):
    """``UserError`` unless ``run_dir`` is a run directory of stage 04 with a model and test scores."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run directory not found: {run_dir}")
    for name in (MODEL_FILE, TEST_FACES):
        if not (run_dir / name).is_file():
            raise UserError(f"no {name} in {run_dir}: pass a run directory written by 04-train-cnn.py")


def find_dataset_dir(run_config, metadata, dataset_dir=None):
    """Stage 03's folder the test faces' paths are relative to: ``dataset_dir`` if given, else the one
    recorded in the run (config.yaml ``dataset_dir``, or the model's ``trained_on``)."""
    recorded = run_config.get("dataset_dir") or metadata.get("trained_on")
    chosen = dataset_dir or recorded
    if chosen is None:
        raise UserError("the run does not record its dataset folder: pass --dataset DIR (stage 03's output)")
    chosen = Path(chosen)
    if not chosen.is_dir():
        hint = "" if dataset_dir else " (recorded in the run; pass --dataset DIR if it moved)"
        raise UserError(f"dataset folder not found: {chosen}{hint}")
    return chosen


def read_test_faces(run_dir, dataset_dir):
    """``test_faces.csv`` of the run with a ``file`` column (absolute image path); rows whose image is
    missing are logged and left out."""
    path = Path(run_dir) / TEST_FACES
    faces = read_table(path)
    missing = [column for column in ("path", "label", "p_fake") if column not in faces.columns]
    if missing:
        raise UserError(f"{path} lacks columns {missing}: is it from 04-train-cnn.py?")
    faces = faces.assign(file=[Path(dataset_dir) / relative for relative in faces["path"]])
    present = faces["file"].map(Path.is_file)
    if not present.all():
        log.warning(
            "%d of %d test faces are missing under %s (first: %s); left out",
            int((~present).sum()),
            len(faces),
            dataset_dir,
            faces.loc[~present, "file"].iloc[0],
        )
    faces = faces[present].reset_index(drop=True)
    if faces.empty:
        raise UserError(f"none of the test faces of {path} is under {dataset_dir}: pass --dataset DIR")
    return faces


def load_images(files, image_size):
    """Face image files -> float32 (n, size, size, 3) RGB 0..255, decoded as training decoded them."""
    return np.stack([decode_image(str(file), image_size).numpy() for file in files]).astype(np.float32)


def explain_run(run_dir, output_dir, dataset_dir=None, samples=16, seed=0, tsne_faces=2000):
    """Write ``gradcam.png`` (``samples`` test faces with their Grad-CAM heatmaps, grouped by outcome) and
    ``tsne.png`` (the test faces' head embeddings before and after training, at most ``tsne_faces`` of
    them) into ``output_dir``.

    ``run_dir``: a run directory of stage 04 (model.keras, test_faces.csv, config.yaml); ``dataset_dir``:
    stage 03's folder, by default the one the run recorded. Returns ``{"gradcam": path, "tsne": path}``.
    """
    started = time.perf_counter()
    run_dir, output_dir = Path(run_dir), Path(output_dir)
    check_run_dir(run_dir)
    model, metadata = load_model(run_dir)
    run_config = read_run_config(run_dir)
    dataset_dir = find_dataset_dir(run_config, metadata, dataset_dir)
    faces = read_test_faces(run_dir, dataset_dir)
    if len(faces) < 3:
        raise UserError(f"t-SNE needs at least 3 test faces; {run_dir} has {len(faces)} with an image")
    name, image_size = metadata["model"], int(metadata["image_size"])
    threshold = float(run_config.get("predict", {}).get("threshold", 0.5))

    chosen = sample_faces(faces, samples, seed, threshold)
    images = load_images(chosen["file"], image_size)
    batches = [
        gradcam(model, images[start : start + GRADCAM_BATCH])
        for start in range(0, len(images), GRADCAM_BATCH)
    ]
    heatmaps, p_fake = (np.concatenate(parts) for parts in zip(*batches))
    drift = float(np.max(np.abs(p_fake - chosen["p_fake"].to_numpy())))
    if drift > PATH_TOLERANCE:
        log.warning(
            "P(fake) now differs from test_faces.csv by up to %.3f: are these the images the run scored?",
            drift,
        )
    layer = last_feature_map_layer(model.get_layer(BACKBONE_LAYER_NAME))
    title = (
        f"Grad-CAM of P(fake) at {layer.name} {tuple(layer.output.shape[1:3])}: {name} {image_size} px, "
        f"threshold {threshold:g}"
    )
    gradcam_png = plot_gradcam(
        images, heatmaps, chosen["label"].to_numpy(), p_fake, chosen["group"], output_dir / GRADCAM_PNG, title
    )
    log.info("Grad-CAM of %d faces -> %s", len(chosen), gradcam_png)

    embedded = faces
    if len(faces) > tsne_faces:
        embedded = faces.sample(n=tsne_faces, random_state=seed).reset_index(drop=True)
    labels = embedded["label"].to_numpy()
    before = untrained_copy(model, name, image_size, seed)
    panels = []
    for when, network in (("before training (random weights)", before), ("after training", model)):
        points = tsne_2d(embed_faces(network, list(embedded["file"]), image_size), seed)
        panels.append((f"{when}: {name}, {len(embedded)} test faces", points))
    tsne_png = plot_tsne(panels, labels, output_dir / TSNE_PNG)
    log.info(
        "t-SNE of %d faces -> %s (%.1f s in all)", len(embedded), tsne_png, time.perf_counter() - started
    )
    return {"gradcam": gradcam_png, "tsne": tsne_png}
