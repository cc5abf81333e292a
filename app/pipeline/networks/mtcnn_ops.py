"""The arithmetic of mtcnn 1.0, in numpy and OpenCV, so its networks can run without TensorFlow.

Each function reproduces one step of mtcnn 1.0 (read from its source): the pyramid's scales, the
AREA resize of each level, PNet's box decoding, its NMS variant, the squaring and regression of
boxes, the crop-and-resize patches for RNet and ONet, and the JSON output. Rows are float64
[x1, y1, x2, y2, score, ...] in the image's pixels.
"""

from __future__ import annotations

import numpy as np

from app.pipeline.networks.mtcnn_candidates import overlap_suppress

PNET_CELL = 12  # PNet's window (px) at each scale
PNET_STRIDE = 2
SCALE_FACTOR = 0.709
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def pyramid_scales(height: int, width: int, min_face_size: int) -> np.ndarray:
    """mtcnn 1.0's scales (same float arithmetic): 12/min_face_size times 0.709**k."""
    count = round(-((np.log(min(width, height) / PNET_CELL) / np.log(SCALE_FACTOR)) + 1))
    return (PNET_CELL / min_face_size) * SCALE_FACTOR ** np.arange(count)


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(h, w) of a pyramid level, truncated as tf.image.resize does with a float size."""
    h, w = (np.asarray([height, width]) * scale).astype(np.int32)
    return int(h), int(w)


def area_resize(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pixel-area average resize of a float32 image (tf.image.resize method 'area', within 1e-5)."""
    import cv2

    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)


def by_score(rows: np.ndarray) -> np.ndarray:
    """Rows by descending score, ties last-first: mtcnn 1.0's reversed argsort, made stable.

    numpy's default sort orders equal keys differently by array size and CPU (insertion sort, or
    AVX2/AVX-512 sorting networks), and PNet's scores tie often (saturated at 1.0), so the boxes
    kept, and the crop, could change with the machine. A stable sort is what numpy does for small
    arrays everywhere; the page's private mode (static/js/private/mtcnn_ops.js) sorts the same way.
    """
    return rows[np.argsort(rows[:, 4], kind="stable")[::-1]]


def nms(rows: np.ndarray, threshold: float, method: str = "union", sort: bool = True) -> np.ndarray:
    """mtcnn 1.0's suppression: a row goes when any higher-ranked row (kept or not) overlaps it past threshold."""
    if len(rows) == 0:
        return rows
    if sort:
        rows = by_score(rows)
    return rows[overlap_suppress(rows[:, :4], threshold, method)]  # the same rule in O(N) memory


def square(rows: np.ndarray) -> np.ndarray:
    """Boxes grown to squares about their centres."""
    rows = rows.copy()
    w, h = rows[:, 2] - rows[:, 0], rows[:, 3] - rows[:, 1]
    side = np.maximum(w, h)
    rows[:, 0] += w * 0.5 - side * 0.5
    rows[:, 1] += h * 0.5 - side * 0.5
    rows[:, 2] = rows[:, 0] + side
    rows[:, 3] = rows[:, 1] + side
    return rows


def regress(rows: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """RNet/ONet box regression: each edge moves by its offset times (side + 1)."""
    rows = rows.copy()
    w, h = rows[:, 2] - rows[:, 0] + 1, rows[:, 3] - rows[:, 1] + 1
    rows[:, :4] += offsets * np.stack([w, h, w, h], axis=-1)
    return rows


def patches(img: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """Bilinear size x size crops of boxes, as mtcnn 1.0 gets them from tf.image.crop_and_resize.

    mtcnn divides a box by the image size (not size - 1) and TensorFlow scales it back by size - 1;
    samples outside the image are 0.
    """
    height, width, channels = img.shape
    steps = np.arange(size, dtype=np.float64) / (size - 1)

    def grid(lo: np.ndarray, hi: np.ndarray, extent: int) -> tuple:
        """Sample positions along one axis: floor, ceil, weight and inside-the-image mask."""
        lo, hi = lo / extent * (extent - 1), hi / extent * (extent - 1)
        pos = lo[:, None] + steps[None, :] * (hi - lo)[:, None]
        inside = (pos >= 0) & (pos <= extent - 1)
        pos = np.clip(pos, 0, extent - 1)
        low = np.floor(pos).astype(np.int64)
        return low, np.ceil(pos).astype(np.int64), (pos - low).astype(np.float32), inside

    top, bottom, wy, y_in = grid(boxes[:, 1], boxes[:, 3], height)
    left, right, wx, x_in = grid(boxes[:, 0], boxes[:, 2], width)
    count = len(boxes)
    pixels = np.ascontiguousarray(img, dtype=np.float32).reshape(-1).view(f"V{4 * channels}")  # a pixel an item

    def gather(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The pixels at rows x cols of every box, as float32 [count, size, size x channels]."""
        return pixels.take(rows[:, :, None] * width + cols[:, None, :]).view(np.float32).reshape(count, size, -1)

    # The same products and sums as a per-channel bilinear blend (bit-identical), laid out so that
    # NumPy's inner loops run over whole rows of samples instead of over 3 channels.
    tl, tr, bl, br = gather(top, left), gather(top, right), gather(bottom, left), gather(bottom, right)
    wx = np.repeat(wx, channels, axis=1)[:, None, :]
    tr -= tl
    tr *= wx
    tl += tr  # upper = tl + (tr - tl) * wx
    br -= bl
    br *= wx
    bl += br  # lower = bl + (br - bl) * wx
    bl -= tl
    bl *= wy[:, :, None]
    tl += bl  # upper + (lower - upper) * wy
    out = tl.reshape(count, size, size, channels)
    outside = ~(y_in[:, :, None] & x_in[:, None, :])
    if outside.any():
        out[outside] = 0
    return out


def pnet_boxes(reg: np.ndarray, prob: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """One PNet output map as rows [x1, y1, x2, y2, score] in image pixels, best first."""
    score = prob[0, :, :, 1]
    ys, xs = np.nonzero(score > threshold)
    if len(ys) == 0:
        return np.empty((0, 5))
    r = reg[0, ys, xs].astype(np.float64) * (PNET_CELL - 1)  # mtcnn scales by the window minus one
    x0, y0 = xs * PNET_STRIDE, ys * PNET_STRIDE
    rows = np.stack([x0 + 1 + r[:, 0], y0 + 1 + r[:, 1], x0 + PNET_CELL + r[:, 2], y0 + PNET_CELL + r[:, 3],
                     score[ys, xs].astype(np.float64)], axis=1)
    rows = by_score(rows)
    rows[:, :4] /= scale
    return rows


def as_detections(rows: np.ndarray, height: int, width: int) -> list[dict]:
    """mtcnn 1.0's output: boxes clipped to the image, [x, y, w, h] and keypoints rounded."""
    out = []
    for row in rows:
        x1, x2 = (min(max(v, 0.0), width - 1) for v in (row[0], row[2]))
        y1, y2 = (min(max(v, 0.0), height - 1) for v in (row[1], row[3]))
        marks = row[5:15].round().astype(int)
        out.append({"box": np.asarray([x1, y1, x2 - x1, y2 - y1]).round().astype(int).tolist(),
                    "confidence": float(row[4]),
                    "keypoints": {name: (int(marks[i]), int(marks[i + 5])) for i, name in enumerate(LANDMARKS)}})
    return out
