// The arithmetic of MTCNN's cascade, ported from app/pipeline/networks/mtcnn_ops.py and
// mtcnn_candidates.py step for step: the pyramid's scales, PNet's box decoding, the suppression
// rule, squaring and regression of boxes, the bilinear patches RNet and ONet see, and the final
// detections. A row is a plain array [x1, y1, x2, y2, score, (5 landmark x, 5 landmark y)] in the
// image's pixels, in double precision as numpy's float64 rows; float32 steps are rounded as float32.

export const PNET_CELL = 12;
export const PNET_STRIDE = 2;
export const SCALE_FACTOR = 0.709;
export const LANDMARKS = ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"];
const f32 = Math.fround;

// Python's round(): halves go to the even neighbour (numpy's round does the same).
export function roundHalfEven(x) {
  const floor = Math.floor(x), diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// mtcnn's scales: 12 / minFace times 0.709^k, as many as its formula counts.
export function pyramidScales(height, width, minFace) {
  const count = roundHalfEven(-((Math.log(Math.min(width, height) / PNET_CELL) / Math.log(SCALE_FACTOR)) + 1));
  const scales = [];
  for (let k = 0; k < count; k++) scales.push((PNET_CELL / minFace) * Math.pow(SCALE_FACTOR, k));
  return scales;
}

// [h, w] of a pyramid level, truncated.
export function scaledSize(height, width, scale) {
  return [Math.trunc(height * scale), Math.trunc(width * scale)];
}

// Rows by descending score, ties last-first: a stable sort, reversed, as the server sorts them (mtcnn_ops.by_score).
export function byScore(rows) {
  const order = rows.map((_, i) => i);
  order.sort((a, b) => rows[a][4] - rows[b][4] || a - b);
  order.reverse();
  return order.map((i) => rows[i]);
}

function overlap(a, b, method) {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]), areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (method === "union" ? areaA + areaB - inter : Math.min(areaA, areaB));
}

// mtcnn's suppression: a row goes when any row ranked before it (kept or not) overlaps it past the threshold.
export function nms(rows, threshold, method = "union", sort = true) {
  if (rows.length === 0) return rows;
  if (sort) rows = byScore(rows);
  const n = rows.length;
  const byLeft = rows.map((_, i) => i).sort((a, b) => rows[a][0] - rows[b][0] || a - b);
  const suppressed = new Uint8Array(n);
  // Only boxes whose x-ranges meet can overlap: for each box, scan the boxes starting left of its end.
  const lefts = byLeft.map((i) => rows[i][0]);
  for (let p = 0; p < n; p++) {
    const i = byLeft[p], a = rows[i];
    for (let q = p + 1; q < n && lefts[q] < a[2]; q++) {
      const j = byLeft[q];
      if (suppressed[Math.max(i, j)]) continue;
      if (overlap(rows[Math.min(i, j)], rows[Math.max(i, j)], method) > threshold) suppressed[Math.max(i, j)] = 1;
    }
  }
  return rows.filter((_, i) => !suppressed[i]);
}

// Boxes grown to squares about their centres.
export function square(rows) {
  return rows.map((row) => {
    const out = row.slice();
    const w = row[2] - row[0], h = row[3] - row[1], side = Math.max(w, h);
    out[0] += w * 0.5 - side * 0.5;
    out[1] += h * 0.5 - side * 0.5;
    out[2] = out[0] + side;
    out[3] = out[1] + side;
    return out;
  });
}

// RNet/ONet box regression: each edge moves by its offset times (side + 1). offsets: [n x 4] flat.
export function regress(rows, offsets) {
  return rows.map((row, i) => {
    const out = row.slice();
    const w = row[2] - row[0] + 1, h = row[3] - row[1] + 1;
    out[0] += offsets[i * 4] * w;
    out[1] += offsets[i * 4 + 1] * h;
    out[2] += offsets[i * 4 + 2] * w;
    out[3] += offsets[i * 4 + 3] * h;
    return out;
  });
}

function grid(lo, hi, extent, size) {
  const low = new Int32Array(size), high = new Int32Array(size), weight = new Float32Array(size);
  const inside = new Uint8Array(size);
  const a = lo / extent * (extent - 1), b = hi / extent * (extent - 1);
  for (let i = 0; i < size; i++) {
    let pos = a + (i / (size - 1)) * (b - a);
    inside[i] = pos >= 0 && pos <= extent - 1 ? 1 : 0;
    pos = Math.min(Math.max(pos, 0), extent - 1);
    low[i] = Math.floor(pos);
    high[i] = Math.ceil(pos);
    weight[i] = pos - low[i];
  }
  return { low, high, weight, inside };
}

// Bilinear size x size crops of boxes from a float32 RGB image (tf.image.crop_and_resize as mtcnn uses it;
// samples outside the image are 0): float32 [n, size, size, 3].
export function patches(img, width, height, boxes, size) {
  const out = new Float32Array(boxes.length * size * size * 3);
  boxes.forEach((box, n) => {
    const ys = grid(box[1], box[3], height, size), xs = grid(box[0], box[2], width, size);
    for (let i = 0; i < size; i++) {
      const top = ys.low[i] * width, bottom = ys.high[i] * width, wy = ys.weight[i];
      for (let j = 0; j < size; j++) {
        const o = ((n * size + i) * size + j) * 3;
        if (!(ys.inside[i] && xs.inside[j])) continue; // stays 0
        const left = xs.low[j], right = xs.high[j], wx = xs.weight[j];
        for (let c = 0; c < 3; c++) {
          const tl = img[(top + left) * 3 + c], tr = img[(top + right) * 3 + c];
          const bl = img[(bottom + left) * 3 + c], br = img[(bottom + right) * 3 + c];
          const upper = f32(tl + f32(f32(tr - tl) * wx));
          const lower = f32(bl + f32(f32(br - bl) * wx));
          out[o + c] = f32(upper + f32(f32(lower - upper) * wy));
        }
      }
    }
  });
  return out;
}

// One PNet output (prob [1, H, W, 2], reg [1, H, W, 4], flat) as rows in image pixels, best first.
export function pnetBoxes(reg, prob, mapH, mapW, scale, threshold) {
  const rows = [];
  const limit = f32(threshold); // numpy compares the float32 map with the threshold as float32
  for (let y = 0; y < mapH; y++) {
    for (let x = 0; x < mapW; x++) {
      const cell = y * mapW + x, score = prob[cell * 2 + 1];
      if (!(score > limit)) continue;
      const r = [0, 1, 2, 3].map((k) => reg[cell * 4 + k] * (PNET_CELL - 1));
      const x0 = x * PNET_STRIDE, y0 = y * PNET_STRIDE;
      rows.push([x0 + 1 + r[0], y0 + 1 + r[1], x0 + PNET_CELL + r[2], y0 + PNET_CELL + r[3], score]);
    }
  }
  return byScore(rows).map((row) => [row[0] / scale, row[1] / scale, row[2] / scale, row[3] / scale, row[4]]);
}

// mtcnn's output: boxes clipped to the image, [x, y, w, h] and keypoints rounded.
export function asDetections(rows, height, width) {
  return rows.map((row) => {
    const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
    const x1 = clip(row[0], width - 1), x2 = clip(row[2], width - 1);
    const y1 = clip(row[1], height - 1), y2 = clip(row[3], height - 1);
    const keypoints = {};
    LANDMARKS.forEach((name, i) => { keypoints[name] = [roundHalfEven(row[5 + i]), roundHalfEven(row[10 + i])]; });
    return { box: [x1, y1, x2 - x1, y2 - y1].map(roundHalfEven), confidence: row[4], keypoints };
  });
}
