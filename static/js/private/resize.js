// Image resizing as the server does it, so the browser's working image, pyramid and crops match its own.
//
// pilResize: Pillow's Image.resize with BILINEAR on 8-bit RGB (app/pipeline/photos/crops.py and
// imaging.py): a two-pass convolution with a triangle filter whose support grows with the
// downscale factor, in Pillow's fixed point (22 fractional bits), rounded to 8 bits between the
// passes. pilReduce: Pillow's Image.reduce (box average), used first when reducing_gap asks for it.
// areaResize: OpenCV's INTER_AREA on float32 RGB, as mtcnn_ops.area_resize calls it for every
// pyramid level (float32 sums over the pixel areas each output pixel covers).

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
const f32 = Math.fround;

function triangle(x) {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc: for each output pixel, its first input pixel,
// how many it reads and their fixed-point weights.
function coefficients(inSize, in0, in1, outSize) {
  const scale = (in1 - in0) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale; // the triangle filter's support is 1
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = triangle((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(v) {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE); // v >> 22 for the positive sums here (they may pass 2^31)
}

// One output pixel: the `count` input pixels from `p` on, `step` bytes apart (3 along a row, a row's
// bytes down a column), weighted by weights[base..] in order, each channel rounded to 8 bits.
function weightedPixel(src, p, step, weights, base, count, out, o) {
  let s0 = HALF, s1 = HALF, s2 = HALF;
  for (let k = 0; k < count; k++, p += step) {
    const w = weights[base + k];
    s0 += src[p] * w;
    s1 += src[p + 1] * w;
    s2 += src[p + 2] * w;
  }
  out[o] = clip8(s0);
  out[o + 1] = clip8(s1);
  out[o + 2] = clip8(s2);
}

function horizontalPass(src, width, rows, rowsFirst, outW, hc) {
  const out = new Uint8Array(outW * rows * 3);
  for (let y = 0; y < rows; y++) {
    const line = (y + rowsFirst) * width * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = hc.bounds[xx * 2], xmax = hc.bounds[xx * 2 + 1];
      weightedPixel(src, line + xmin * 3, 3, hc.weights, xx * hc.ksize, xmax, out, (y * outW + xx) * 3);
    }
  }
  return out;
}

function verticalPass(src, width, outH, rowsFirst, vc) {
  const out = new Uint8Array(width * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = vc.bounds[yy * 2] - rowsFirst, ymax = vc.bounds[yy * 2 + 1];
    for (let xx = 0; xx < width; xx++) {
      weightedPixel(src, (ymin * width + xx) * 3, width * 3, vc.weights, yy * vc.ksize, ymax, out,
                    (yy * width + xx) * 3);
    }
  }
  return out;
}

// RGB uint8 [height x width x 3] resized to outW x outH, reading the box [x0, y0, x1, y1] of the input
// (Pillow's resize(size, BILINEAR, box)). Pillow 13 runs the vertical pass first when the height
// shrinks by more than twice as many pixels as the width; each pass rounds to 8 bits.
export function pilResize(src, width, height, outW, outH, box = [0, 0, width, height]) {
  box = box.map(f32); // Pillow keeps the box in single precision
  if (outW === width && outH === height && box[0] === 0 && box[1] === 0 && box[2] === width && box[3] === height) {
    return src.slice();
  }
  const horizontal = outW !== width || box[0] !== 0 || box[2] !== outW;
  const vertical = outH !== height || box[1] !== 0 || box[3] !== outH;
  const horizontalFirst = !(height - outH > 0 && height - outH > (width - outW) * 2);
  const hc = coefficients(width, box[0], box[2], outW);
  const vc = coefficients(height, box[1], box[3], outH);
  if (!horizontalFirst) {
    const tall = vertical ? verticalPass(src, width, outH, 0, vc) : src;
    return horizontal ? horizontalPass(tall, width, outH, 0, outW, hc) : tall;
  }
  if (!horizontal) return vertical ? verticalPass(src, width, outH, 0, vc) : src.slice();
  const rowsFirst = vc.bounds[0];
  const rowsLast = vc.bounds[outH * 2 - 2] + vc.bounds[outH * 2 - 1];
  const wide = horizontalPass(src, width, rowsLast - rowsFirst, rowsFirst, outW, hc);
  return vertical ? verticalPass(wide, outW, outH, rowsFirst, vc) : wide;
}

// Pillow's Image.reduce((fx, fy)): the mean of each fx x fy block (the last ones partial), rounded.
export function pilReduce(src, width, height, fx, fy) {
  const outW = Math.ceil(width / fx), outH = Math.ceil(height / fy);
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y++) {
    const y0 = y * fy, y1 = Math.min(y0 + fy, height);
    for (let x = 0; x < outW; x++) {
      const x0 = x * fx, x1 = Math.min(x0 + fx, width);
      const count = (y1 - y0) * (x1 - x0);
      let s0 = 0, s1 = 0, s2 = 0;
      for (let yy = y0; yy < y1; yy++) {
        for (let xx = x0; xx < x1; xx++) {
          const p = (yy * width + xx) * 3;
          s0 += src[p];
          s1 += src[p + 1];
          s2 += src[p + 2];
        }
      }
      const o = (y * outW + x) * 3;
      out[o] = Math.floor((s0 + count / 2) / count);
      out[o + 1] = Math.floor((s1 + count / 2) / count);
      out[o + 2] = Math.floor((s2 + count / 2) / count);
    }
  }
  return { rgb: out, width: outW, height: outH };
}

// Pillow's resize(size, BILINEAR, reducing_gap=2.0) as imaging.py calls it: a box reduction by the
// whole factor that keeps at least twice the output size, then the convolution on what is left.
export function pilResizeReducing(src, width, height, outW, outH, gap = 2) {
  const fx = Math.trunc(width / outW / gap) || 1, fy = Math.trunc(height / outH / gap) || 1;
  if (fx === 1 && fy === 1) return pilResize(src, width, height, outW, outH);
  // Pillow reads the whole image here (its "safe box" of a full-image resize), reduced by whole blocks
  const reduced = pilReduce(src, width, height, fx, fy);
  const box = [0, 0, width / fx, height / fy];
  return pilResize(reduced.rgb, reduced.width, reduced.height, outW, outH, box);
}

// OpenCV's computeResizeAreaTab: (output index, input index, weight) for every input cell an output reads.
function areaTable(ssize, dsize, scale) {
  const di = [], si = [], alpha = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1), sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) {
      di.push(dx); si.push(sx1 - 1); alpha.push(f32((sx1 - fsx1) / cellWidth));
    }
    for (let sx = sx1; sx < sx2; sx++) {
      di.push(dx); si.push(sx); alpha.push(f32(1 / cellWidth));
    }
    if (fsx2 - sx2 > 1e-3) {
      di.push(dx); si.push(sx2); alpha.push(f32(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth));
    }
  }
  return { di: Int32Array.from(di), si: Int32Array.from(si), alpha: Float32Array.from(alpha) };
}

// float32 RGB [height x width x 3] to [outH x outW x 3] by pixel-area averaging (cv2.INTER_AREA, downscale).
export function areaResize(src, width, height, outW, outH) {
  const xt = areaTable(width, outW, 1 / (outW / width));
  const yt = areaTable(height, outH, 1 / (outH / height));
  const out = new Float32Array(outW * outH * 3);
  const row = outW * 3;
  const buf = new Float32Array(row), sum = new Float32Array(row);
  let prev = yt.di[0];
  for (let j = 0; j < yt.di.length; j++) {
    const beta = yt.alpha[j], dy = yt.di[j], line = yt.si[j] * width * 3;
    buf.fill(0);
    for (let k = 0; k < xt.di.length; k++) {
      const s = line + xt.si[k] * 3, d = xt.di[k] * 3, a = xt.alpha[k];
      buf[d] = buf[d] + f32(src[s] * a);
      buf[d + 1] = buf[d + 1] + f32(src[s + 1] * a);
      buf[d + 2] = buf[d + 2] + f32(src[s + 2] * a);
    }
    if (dy !== prev) {
      out.set(sum, prev * row);
      for (let x = 0; x < row; x++) sum[x] = beta * buf[x];
      prev = dy;
    } else {
      for (let x = 0; x < row; x++) sum[x] = sum[x] + f32(beta * buf[x]);
    }
  }
  out.set(sum, prev * row);
  return out;
}
