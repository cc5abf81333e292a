// MTCNN's cascade over a pruned image pyramid, ported from app/pipeline/networks/mtcnn_onnx.py.
//
// The pyramid levels that could only find faces smaller than M = max(min face, fraction x the
// shorter side) are skipped; when that pass finds no face, or its largest is under 2 M x M, the
// skipped levels run too and the photo is redone on the full pyramid (the server's reasoning, in its
// module docstring, holds here unchanged). `run(name, data, dims)` runs one network and resolves to
// its outputs by name ({data, dims}).

import { areaResize } from "./resize.js";
import {
  PNET_CELL, SCALE_FACTOR, asDetections, nms, patches, pnetBoxes, pyramidScales, regress, scaledSize, square,
} from "./mtcnn_ops.js";

export const THRESHOLDS = [0.6, 0.7, 0.8]; // PNet, RNet, ONet face probability, as mtcnn 1.0
const RNET_PER_FACE = 16, ONET_PER_FACE = 3, RNET_MIN = 160, ONET_MIN = 30; // mtcnn_candidates.py

export class Cascade {
  constructor(run, settings) {
    this.run = run;
    this.minFace = settings.mtcnn_min_face_size;
    this.fraction = settings.detect_min_face_fraction;
    this.rnetKeep = Math.max(RNET_PER_FACE * settings.max_faces, RNET_MIN);
    this.onetKeep = Math.max(ONET_PER_FACE * settings.max_faces, ONET_MIN);
  }

  // M: the smallest face side (px) the pruned pyramid is sure to find.
  covered(height, width) {
    return Math.max(this.minFace, this.fraction * Math.min(height, width));
  }

  // mtcnn's scales, those usable (level at least 12 px) and those the pruned pass runs.
  plan(height, width) {
    const scales = pyramidScales(height, width, this.minFace);
    const limit = PNET_CELL / (SCALE_FACTOR * this.covered(height, width));
    const usable = scales.map((s) => Math.min(...scaledSize(height, width, s)) >= PNET_CELL);
    const kept = scales.map((s, i) => usable[i] && s <= limit * (1 + 1e-9));
    return { scales, usable, kept };
  }

  // PNet's candidates at one scale, after mtcnn's per-scale suppression.
  async proposals(img, width, height, scale) {
    const [h, w] = scaledSize(height, width, scale);
    const level = areaResize(img, width, height, w, h);
    const out = await this.run("pnet", level, [1, h, w, 3]);
    const [, mapH, mapW] = out.prob.dims;
    return nms(pnetBoxes(out.reg.data, out.prob.data, mapH, mapW, scale, THRESHOLDS[0]), 0.5, "union", false);
  }

  // Cross-scale suppression, RNet and ONet: rows [x1, y1, x2, y2, score, 5 landmark x, 5 landmark y].
  async refine(img, width, height, proposed) {
    let rows = nms([].concat(...proposed), 0.7, "union");
    if (rows.length === 0) return [];
    rows = square(rows.slice(0, this.rnetKeep)); // by score, most confident first
    let out = await this.run("rnet", patches(img, width, height, rows, 24), [rows.length, 24, 24, 3]);
    rows = rows.map((row, i) => { const r = row.slice(); r[4] = out.prob.data[i * 2 + 1]; return r; });
    rows = regress(rows, out.reg.data);
    rows = square(nms(rows.filter((r) => r[4] > THRESHOLDS[1]), 0.7, "union"));
    if (rows.length === 0) return [];
    if (rows.length > this.onetKeep) { // the largest, in their order
      const areas = rows.map((r) => (r[2] - r[0]) * (r[3] - r[1]));
      const largest = rows.map((_, i) => i).sort((a, b) => areas[b] - areas[a] || a - b).slice(0, this.onetKeep);
      rows = largest.sort((a, b) => a - b).map((i) => rows[i]);
    }
    out = await this.run("onet", patches(img, width, height, rows, 48), [rows.length, 48, 48, 3]);
    const marks = out.landmarks.data;
    rows = rows.map((row, i) => {
      const w = row[2] - row[0] + 1, h = row[3] - row[1] + 1;
      const r = row.slice(0, 5);
      r[4] = out.prob.data[i * 2 + 1];
      const xs = [0, 1, 2, 3, 4].map((k) => w * marks[i * 10 + k] + row[0] - 1);
      const ys = [0, 1, 2, 3, 4].map((k) => h * marks[i * 10 + 5 + k] + row[1] - 1);
      return r.concat(xs, ys);
    });
    const regressed = regress(rows.map((r) => r.slice(0, 5)), out.reg.data);
    rows = rows.map((r, i) => regressed[i].concat(r.slice(5)));
    return nms(rows.filter((r) => r[4] > THRESHOLDS[2]), 0.7, "min");
  }

  // Detections as unclipped rows, and whether the full-pyramid retry ran. rgb: uint8 [height x width x 3].
  async detectRows(rgb, width, height) {
    const img = new Float32Array(rgb.length);
    for (let i = 0; i < rgb.length; i++) img[i] = Math.fround(Math.fround(rgb[i] - 127.5) / 128);
    const { scales, usable, kept } = this.plan(height, width);
    const found = new Map();
    for (let i = 0; i < scales.length; i++) {
      if (kept[i]) found.set(i, await this.proposals(img, width, height, scales[i]));
    }
    const rows = await this.refine(img, width, height, [...found.values()]);
    const skipped = scales.map((_, i) => i).filter((i) => usable[i] && !kept[i]);
    const m = this.covered(height, width);
    const largest = Math.max(0, ...rows.map((r) => (r[2] - r[0]) * (r[3] - r[1])));
    if (skipped.length === 0 || (rows.length && largest >= 2 * m * m)) return { rows, retried: false };
    for (const i of skipped) found.set(i, await this.proposals(img, width, height, scales[i]));
    const ordered = [...found.keys()].sort((a, b) => a - b).map((i) => found.get(i));
    return { rows: await this.refine(img, width, height, ordered), retried: true };
  }

  // Faces of an RGB uint8 image in mtcnn 1.0's detect_faces format.
  async detect(rgb, width, height) {
    const { rows } = await this.detectRows(rgb, width, height);
    return asDetections(rows, height, width);
  }
}
