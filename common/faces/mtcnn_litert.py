"""MTCNN (Zhang et al. 2016) with the ``mtcnn`` package's trained weights, run as LiteRT graphs over
batches of frames, without TensorFlow.

The package (mtcnn 1.0.0) runs its three networks eagerly in TensorFlow, a few small operations at a time,
and importing TensorFlow alone takes seconds. Here the weights are read from the joblib files in the
package's wheel (``mtcnn/assets/weights``, without importing the package, whose ``__init__`` imports
TensorFlow), the networks are written as TFLite flatbuffers in memory (the schema ships in
``ai_edge_litert``) and run in the LiteRT interpreter (XNNPACK); the rest is NumPy and OpenCV over the
boxes of a whole batch of frames at once. The steps are the package's, so it finds the faces the package
finds with the package's confidences (``tests/test_mtcnn.py``):

- pyramid: scales ``(12 / min_face_size) * 0.709**k`` for ``k < round(log(shorter side / 12) /
  log(1 / 0.709) - 1)``; each level's size is the frame's times the scale, truncated, made by pixel-area
  averaging (TensorFlow's AREA resize is OpenCV's INTER_AREA) of the frame scaled to ``(x - 127.5) / 128``;
- P-Net on each level: a cell ``(x, y)`` scoring above 0.6 proposes the box from ``(2x + 1, 2y + 1)`` to
  ``(2x + 12, 2y + 12)``, each corner moved by 11 times its regression, divided by the scale;
- suppression (``suppress``), per frame: boxes sorted by score, best first; a box is dropped when any box
  before it, dropped or not, overlaps it by more than the limit (intersection over union; at O-Net over
  the smaller box). P-Net: 0.5 within a level, then 0.7 over all levels;
- R-Net, then O-Net, on every box of the batch at once: the square around the box (its longer side, same
  centre) cut from the frame at 24 and 48 px as TensorFlow's ``crop_and_resize`` cuts it (``patches``);
  the network's score replaces the box's, the box moves by its regression times (width + 1, height + 1);
  kept above 0.7 (R-Net) and above ``threshold`` (O-Net), then suppressed at 0.7;
- boxes clipped to the frame (``x <= width - 1``), reported as rounded ``(x, y, width, height)``.

Where the package fails (a pyramid level under P-Net's 11 px gives TensorFlow an empty convolution, and
the package then reports no face in the whole batch, which is why ``preprocess.min_face_size`` stops at
29) this one skips that level. Landmarks are not computed.
"""

import collections
import importlib.util
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from common.faces.base import Face, lowest_floor

log = logging.getLogger(__name__)

PYRAMID_FACTOR = 0.709  # each pyramid level's size over the previous one's
CELL = 12  # P-Net's window, in pixels of a pyramid level (stride 2)
MIN_LEVEL = 11  # P-Net gives no output on a level shorter than this
PNET_SCORE, RNET_SCORE = 0.6, 0.7  # a box is kept above these
PNET_LEVEL_OVERLAP, PNET_OVERLAP, RNET_OVERLAP, ONET_OVERLAP = 0.5, 0.7, 0.7, 0.7  # suppression limits
RNET_SIDE, ONET_SIDE = 24, 48  # input sizes
PATCH_CHUNKS = (256, 64, 16, 4)  # R-Net and O-Net run on chunks of these many boxes (the last one padded)


def weights_file(net):
    """The weights of ``net`` (pnet, rnet, onet) inside the installed ``mtcnn`` package (not imported)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("preprocess.detector mtcnn needs the mtcnn package (its weights)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights" / f"{net}.lz4"


def load_weights(net):
    """The Keras weight arrays of ``net``, in the order of its layers (kernels height, width, in, out)."""
    import joblib

    return joblib.load(weights_file(net))


class TFLiteGraph:
    """A TFLite model (one subgraph of float32 tensors) written operation by operation. Tensors are
    indices; the shape of each is worked out as it is added (the interpreter works them out again when
    its input is resized)."""

    def __init__(self):
        from ai_edge_litert import schema_py_generated as schema

        self._schema = schema
        self._tensors, self.shapes, self._operators, self._codes = [], [], [], []
        self._buffers = [schema.BufferT()]  # buffer 0: the empty one of every non-constant tensor

    def tensor(self, shape, data=None):
        """A new tensor of ``shape``; with ``data``, a constant holding it."""
        tensor = self._schema.TensorT()
        tensor.shape = np.array(shape, np.int32)
        tensor.type = self._schema.TensorType.FLOAT32
        tensor.name = f"t{len(self._tensors)}"
        tensor.buffer = 0
        if data is not None:
            buffer = self._schema.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(data, np.float32).tobytes(), np.uint8)
            self._buffers.append(buffer)
            tensor.buffer = len(self._buffers) - 1
        self._tensors.append(tensor)
        self.shapes.append(list(shape))
        return len(self._tensors) - 1

    def operation(self, code, inputs, output_shape, options_type=0, options=None):
        """Add the builtin operation ``code`` on ``inputs``; returns its output tensor."""
        if code not in self._codes:
            self._codes.append(code)
        output = self.tensor(output_shape)
        operator = self._schema.OperatorT()
        operator.opcodeIndex = self._codes.index(code)
        operator.inputs = np.array(inputs, np.int32)
        operator.outputs = np.array([output], np.int32)
        operator.builtinOptionsType = options_type
        operator.builtinOptions = options
        self._operators.append(operator)
        return output

    def conv(self, x, kernel, bias):
        """A 'valid' convolution of stride 1; ``kernel`` as Keras holds it (height, width, in, out)."""
        height, width, _, channels = kernel.shape
        batch, rows, columns, _ = self.shapes[x]
        options = self._schema.Conv2DOptionsT()
        options.padding = self._schema.Padding.VALID
        options.strideH = options.strideW = options.dilationHFactor = options.dilationWFactor = 1
        kernel = kernel.transpose(3, 0, 1, 2)  # TFLite's order: out, height, width, in
        return self.operation(
            self._schema.BuiltinOperator.CONV_2D,
            [x, self.tensor(kernel.shape, kernel), self.tensor(bias.shape, bias)],
            [batch, rows - height + 1, columns - width + 1, channels],
            self._schema.BuiltinOptions.Conv2DOptions,
            options,
        )

    def prelu(self, x, alpha):
        """PReLU with one slope per channel."""
        alpha = alpha.reshape(-1)
        return self.operation(
            self._schema.BuiltinOperator.PRELU, [x, self.tensor(alpha.shape, alpha)], self.shapes[x]
        )

    def conv_prelu(self, x, kernel, bias, alpha):
        """``conv`` then ``prelu``: MTCNN's layer."""
        return self.prelu(self.conv(x, kernel, bias), alpha)

    def max_pool(self, x, size, stride, same):
        """Max pooling; ``same`` pads as TensorFlow's 'same' (output ceil(input / stride))."""
        batch, rows, columns, channels = self.shapes[x]
        if same:
            shape = [batch, -(-rows // stride), -(-columns // stride), channels]
        else:
            shape = [batch, (rows - size) // stride + 1, (columns - size) // stride + 1, channels]
        options = self._schema.Pool2DOptionsT()
        options.padding = self._schema.Padding.SAME if same else self._schema.Padding.VALID
        options.strideH = options.strideW = stride
        options.filterHeight = options.filterWidth = size
        return self.operation(
            self._schema.BuiltinOperator.MAX_POOL_2D,
            [x],
            shape,
            self._schema.BuiltinOptions.Pool2DOptions,
            options,
        )

    def softmax(self, x):
        options = self._schema.SoftmaxOptionsT()
        options.beta = 1.0
        return self.operation(
            self._schema.BuiltinOperator.SOFTMAX,
            [x],
            self.shapes[x],
            self._schema.BuiltinOptions.SoftmaxOptions,
            options,
        )

    def model(self, inputs, outputs):
        """The model's flatbuffer bytes."""
        import flatbuffers

        schema = self._schema
        subgraph = schema.SubGraphT()
        subgraph.tensors, subgraph.operators = self._tensors, self._operators
        subgraph.inputs, subgraph.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        model = schema.ModelT()
        model.version = 3
        model.buffers, model.subgraphs = self._buffers, [subgraph]
        model.operatorCodes = []
        for code in self._codes:
            operator_code = schema.OperatorCodeT()
            operator_code.builtinCode, operator_code.deprecatedBuiltinCode = code, min(code, 127)
            operator_code.version = 1
            model.operatorCodes.append(operator_code)
        builder = flatbuffers.Builder(1 << 16)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())


def pnet_model(weights):
    """P-Net on frames (frames, rows, columns, 3), written for one 12 x 12 frame: outputs regression (4)
    and face score (softmax of 2) per cell."""
    graph = TFLiteGraph()
    x = graph.tensor([1, CELL, CELL, 3])
    h = graph.max_pool(graph.conv_prelu(x, *weights[0:3]), 2, 2, same=True)
    h = graph.conv_prelu(h, *weights[3:6])
    h = graph.conv_prelu(h, *weights[6:9])
    return graph.model([x], [graph.conv(h, *weights[9:11]), graph.softmax(graph.conv(h, *weights[11:13]))])


def dense_as_conv(kernel, features):
    """A dense layer's kernel over a flattened ``(side, side, channels)`` map as the kernel of a 'valid'
    convolution over that map. Keras's MTCNN swaps rows and columns before flattening, so the dense rows
    run column by column."""
    side = math.isqrt(kernel.shape[0] // features)
    return kernel.reshape(side, side, features, -1).transpose(1, 0, 2, 3)


def refine_model(weights, side, pools):
    """R-Net or O-Net on patches of ``side`` x ``side``, written for one: convolution blocks, each followed
    by its max pooling ``(size, stride, same)`` of ``pools`` or none, then the dense layer (as a convolution
    over the last map) and the heads: regression (patches, 1, 1, 4) and score (.., 2). O-Net's landmark
    head, between those two in its weights, is left out."""
    graph = TFLiteGraph()
    x = h = graph.tensor([1, side, side, 3])
    for block, pool in enumerate(pools):
        h = graph.conv_prelu(h, *weights[3 * block : 3 * block + 3])
        if pool:
            h = graph.max_pool(h, *pool)
    dense = 3 * len(pools)
    kernel = dense_as_conv(weights[dense], weights[dense - 3].shape[-1])
    h = graph.conv_prelu(h, kernel, *weights[dense + 1 : dense + 3])
    regression = graph.conv(h, weights[dense + 3][None, None], weights[dense + 4])
    return graph.model([x], [regression, graph.softmax(graph.conv(h, weights[-2][None, None], weights[-1]))])


def rnet_model(weights):
    """R-Net on patches of 24 x 24."""
    return refine_model(weights, RNET_SIDE, [(3, 2, True), (3, 2, False), None])


def onet_model(weights):
    """O-Net on patches of 48 x 48."""
    return refine_model(weights, ONET_SIDE, [(3, 2, True), (3, 2, False), (2, 2, True), None])


class Network:
    """One network's model and its LiteRT interpreters, one per input shape (each plans its memory for its
    shape once), the ``kept`` most recently used: frames of a new size add a pyramid of them."""

    def __init__(self, model, threads, kept=48):
        self._model, self._threads, self._kept = model, threads, kept
        self._interpreters = collections.OrderedDict()

    def shapes(self):
        """The input shapes it holds interpreters for, least recently used first."""
        return list(self._interpreters)

    def __call__(self, x):
        """The network's outputs for ``x``."""
        if x.shape in self._interpreters:
            self._interpreters.move_to_end(x.shape)
        else:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=self._model, num_threads=self._threads)
            input_index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(input_index, x.shape, strict=False)
            interpreter.allocate_tensors()
            outputs = [output["index"] for output in interpreter.get_output_details()]
            self._interpreters[x.shape] = (interpreter, input_index, outputs)
            if len(self._interpreters) > self._kept:
                self._interpreters.popitem(last=False)
        interpreter, input_index, outputs = self._interpreters[x.shape]
        interpreter.set_tensor(input_index, x)
        interpreter.invoke()
        return [interpreter.get_tensor(output) for output in outputs]

    def over_patches(self, patches):
        """Regression (n, 4) and score (n, 2) of ``n`` patches, run in chunks of ``PATCH_CHUNKS``."""
        regressions, scores = [], []
        start = 0
        while start < len(patches):
            left = len(patches) - start
            size = next((size for size in PATCH_CHUNKS if size <= left), PATCH_CHUNKS[-1])
            chunk = patches[start : start + size]
            if len(chunk) < size:
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)])
            regression, score = self(chunk)
            regressions.append(regression.reshape(size, 4)[: len(patches) - start])
            scores.append(score.reshape(size, 2)[: len(patches) - start])
            start += size
        if not regressions:
            return np.zeros((0, 4), np.float32), np.zeros((0, 2), np.float32)
        return np.concatenate(regressions), np.concatenate(scores)


def pyramid(height, width, min_face_size):
    """The pyramid levels of a frame: ``[(scale, rows, columns)]``, largest first, those P-Net can run."""
    count = round(-(np.log(min(height, width) / CELL) / np.log(PYRAMID_FACTOR) + 1))
    levels = []
    for scale in (CELL / min_face_size) * PYRAMID_FACTOR ** np.arange(count):
        rows, columns = (np.asarray([height, width]) * scale).astype(int)
        if min(rows, columns) >= MIN_LEVEL:
            levels.append((float(scale), int(rows), int(columns)))
    return levels


def by_score(rows):
    """Rows ``(frame, x0, y0, x1, y1, score)`` sorted by score, best first (as the package sorts)."""
    return rows[np.argsort(rows[:, 5])[::-1]]


def proposals(regression, scores, scale):
    """P-Net's boxes on one pyramid level, in pixels of the frame: rows ``(frame, x0, y0, x1, y1, score)``
    sorted by score. ``regression`` and ``scores``: its outputs (frames, rows, columns, 4 and 2)."""
    frame, y, x = np.nonzero(scores[..., 1] > PNET_SCORE)
    corners = np.stack([x, y, x, y], axis=1) * 2 + np.array([1, 1, CELL, CELL])
    boxes = (corners + regression[frame, y, x] * (CELL - 1)) / scale
    return by_score(np.column_stack([frame, boxes, scores[frame, y, x, 1]]))


def suppress(rows, limit, over_smaller=False):
    """The rows (sorted by score) that no earlier row of their frame overlaps by more than ``limit``;
    overlap: intersection over union, or over the smaller box. An earlier row counts even when it is
    itself dropped (the package's rule, not the greedy one)."""
    kept = []
    for frame in np.unique(rows[:, 0]):
        boxes = rows[rows[:, 0] == frame]
        corners = boxes[:, 1:5]
        areas = (corners[:, 2] - corners[:, 0]) * (corners[:, 3] - corners[:, 1])
        low = np.maximum(corners[:, None, :2], corners[None, :, :2])
        high = np.minimum(corners[:, None, 2:], corners[None, :, 2:])
        overlap = np.maximum(0, high - low).prod(axis=2)
        if over_smaller:
            share = np.minimum(areas[:, None], areas[None, :])
        else:
            share = areas[:, None] + areas[None, :] - overlap
        with np.errstate(divide="ignore", invalid="ignore"):
            overlapping = np.triu(overlap / share > limit, k=1)
        kept.append(boxes[~overlapping.any(axis=0)])
    return np.concatenate(kept) if kept else rows[:0]


def squared(rows):
    """The boxes made square: the longer side, the same centre."""
    rows = rows.copy()
    size = rows[:, 3:5] - rows[:, 1:3]
    side = size.max(axis=1, keepdims=True)
    rows[:, 1:3] = rows[:, 1:3] + size * 0.5 - side * 0.5
    rows[:, 3:5] = rows[:, 1:3] + side
    return rows


def refined(rows, regression, scores):
    """The boxes with a network's scores, moved by its regression times (width + 1, height + 1)."""
    rows = rows.copy()
    rows[:, 5] = scores[:, 1]
    size = rows[:, 3:5] - rows[:, 1:3] + 1
    rows[:, 1:5] += regression * np.tile(size, 2)
    return rows


def patches(frames, rows, side):
    """The boxes of ``rows`` cut from ``frames`` (frames, height, width, 3; RGB 0-255) and resized to
    ``side`` x ``side`` as TensorFlow's ``crop_and_resize`` does it, given the package's box coordinates
    (corners divided by the frame's height and width): bilinear, sampled from ``corner * (size - 1)`` in
    equal steps; then scaled as the networks take them, ``(x - 127.5) / 128``; a row or column that falls
    outside the frame is 0."""
    _, height, width, channels = frames.shape
    boxes = (rows[:, 1:5] / np.array([width, height, width, height])).astype(np.float32)
    steps = np.arange(side, dtype=np.float32)
    grids = []
    for start, end, size in ((boxes[:, 1], boxes[:, 3], height), (boxes[:, 0], boxes[:, 2], width)):
        step = (end - start) * np.float32(size - 1) / np.float32(side - 1)
        at = start[:, None] * np.float32(size - 1) + steps * step[:, None]
        inside = (at >= 0) & (at <= size - 1)
        low = np.clip(np.floor(at), 0, size - 1).astype(np.intp)
        high = np.clip(np.ceil(at), 0, size - 1).astype(np.intp)
        grids.append((low, high, (at - np.floor(at))[..., None], inside))
    (top, bottom, y_weight, rows_in), (left, right, x_weight, columns_in) = grids
    pixels = frames.reshape(-1, channels)
    first = (rows[:, 0].astype(np.intp) * height)[:, None]
    top, bottom = ((first + top) * width)[:, :, None], ((first + bottom) * width)[:, :, None]
    left, right = left[:, None, :], right[:, None, :]

    def gathered(at):  # np.take is several times faster than indexing here
        return np.take(pixels, at, axis=0).astype(np.float32)

    upper, upper_right = gathered(top + left), gathered(top + right)
    upper_right -= upper
    upper_right *= x_weight[:, None]
    upper += upper_right  # upper + (upper_right - upper) * x_weight
    lower, lower_right = gathered(bottom + left), gathered(bottom + right)
    lower_right -= lower
    lower_right *= x_weight[:, None]
    lower += lower_right
    lower -= upper
    lower *= y_weight[:, :, None]
    lower += upper  # upper + (lower - upper) * y_weight
    lower -= np.float32(127.5)
    lower *= np.float32(1 / 128)
    lower *= (rows_in[:, :, None] & columns_in[:, None, :])[..., None]
    return lower


class MTCNNLiteRT:
    """MTCNN as described above, over batches of same-sized frames; boxes in pixels of the frame given.
    Build it once per process (its interpreters are made for each input size met, then reused); not for
    two threads at once.

    P-Net runs frame by frame: one call per pyramid level over 16 frames took 14.3 CPU ms a frame against
    13.5 (64 DFDC frames of 634 x 356, one thread), and needs 16 frames' pyramid in memory at once."""

    def __init__(self, preprocess, threads=None):
        from common.core.runner import available_cores

        threads = threads or available_cores()
        self._pnet = Network(pnet_model(load_weights("pnet")), threads)
        self._rnet = Network(rnet_model(load_weights("rnet")), threads)
        self._onet = Network(onet_model(load_weights("onet")), threads)
        self._min_face_size = preprocess["min_face_size"]
        self._threshold = lowest_floor(preprocess)  # the package's threshold_onet

    def detect(self, frames_rgb):
        found = [None] * len(frames_rgb)
        by_shape = {}
        for index, frame in enumerate(frames_rgb):
            by_shape.setdefault(frame.shape, []).append(index)
        for indices in by_shape.values():
            for index, faces in zip(indices, self.detect_batch(np.stack([frames_rgb[i] for i in indices]))):
                found[index] = faces
        return found

    def detect_batch(self, frames):
        """The faces of each frame of ``frames`` (frames, height, width, 3; RGB 0-255)."""
        count, height, width, _ = frames.shape
        rows = squared(self._pnet_stage(frames))
        regression, scores = self._rnet.over_patches(patches(frames, rows, RNET_SIDE))
        rows = refined(rows, regression, scores)
        rows = squared(suppress(by_score(rows[rows[:, 5] > RNET_SCORE]), RNET_OVERLAP))
        regression, scores = self._onet.over_patches(patches(frames, rows, ONET_SIDE))
        rows = refined(rows, regression, scores)
        rows = suppress(by_score(rows[rows[:, 5] > self._threshold]), ONET_OVERLAP, over_smaller=True)
        corners = np.clip(rows[:, 1:5], 0, np.array([width, height, width, height]) - 1)
        boxes = np.round(np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2]])).astype(int)
        found = [[] for _ in range(count)]
        for frame, box, score in zip(rows[:, 0].astype(int), boxes, rows[:, 5]):
            found[frame].append(Face(tuple(int(value) for value in box), float(score)))
        return found

    def _pnet_stage(self, frames):
        """P-Net's boxes over each frame's pyramid, suppressed within each level, then over all levels."""
        _, height, width, _ = frames.shape
        levels = pyramid(height, width, self._min_face_size)
        found = [[] for _ in levels]
        for index, frame in enumerate(frames):
            image = frame.astype(np.float32)
            image -= np.float32(127.5)
            image *= np.float32(1 / 128)  # exact: a power of two
            for boxes, (scale, rows, columns) in zip(found, levels):
                level = cv2.resize(image, (columns, rows), interpolation=cv2.INTER_AREA)
                proposed = proposals(*self._pnet(level[None]), scale)
                proposed[:, 0] = index
                boxes.append(suppress(proposed, PNET_LEVEL_OVERLAP))
        if not levels:
            return np.zeros((0, 6))
        # level by level, frame by frame, as the package lays them out: sorting by score then leaves boxes of
        # equal score in the package's order, and suppression keeps the same one of them
        return suppress(by_score(np.concatenate([boxes for level in found for boxes in level])), PNET_OVERLAP)
