// FaceNet on a face crop, as app/pipeline/photos/embed.py runs it: per-image standardization
// (models/facenet.py standardize), the network, optionally the mirrored crop's output added
// (EMBED_FLIP), and L2 normalization. `run(name, data, dims)` runs one network (see mtcnn.js).

// (x - mean) / max(std, 1 / sqrt(n)) over the whole crop, float32.
export function standardize(crop) {
  const n = crop.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += crop[i];
  const mean = Math.fround(sum / n);
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (crop[i] - mean) ** 2;
  const std = Math.fround(Math.sqrt(squares / n));
  const scale = Math.max(std, Math.fround(1 / Math.sqrt(n)));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.fround(crop[i] - mean) / scale;
  return out;
}

// The crop mirrored left to right (side x side x 3).
export function mirrored(crop, side) {
  const out = new Uint8Array(crop.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const from = (y * side + x) * 3, to = (y * side + side - 1 - x) * 3;
      out[to] = crop[from];
      out[to + 1] = crop[from + 1];
      out[to + 2] = crop[from + 2];
    }
  }
  return out;
}

// Rows scaled to unit length (float32), as embed.py l2_normalize.
export function l2Normalize(values) {
  let norm = 0;
  for (const v of values) norm += v * v;
  norm = Math.max(Math.sqrt(norm), 1e-12);
  return Float32Array.from(values, (v) => v / norm);
}

// The L2-normalized embedding of a uint8 crop (side x side x 3).
export async function embed(run, crop, side, flip) {
  const raw = async (pixels) => (await run("facenet", standardize(pixels), [1, side, side, 3])).embedding.data;
  let out = Float64Array.from(await raw(crop));
  if (flip) {
    const other = await raw(mirrored(crop, side));
    out = out.map((v, i) => Math.fround(v + other[i]));
  }
  for (const v of out) {
    if (!Number.isFinite(v)) throw new Error("the face network gave an invalid (non-finite) result");
  }
  return l2Normalize(out);
}
