// Which face a photo is about and its crop, ported from app/pipeline/photos/detect.py and crops.py:
// the faces kept (confidence, largest first, at most MAX_FACES), the main face ("central" or
// "largest"), a face picked by its index, the margin crop resized with Pillow's bilinear filter,
// and the face thumbnail the results page shows. Errors carry the server's own messages.

import { roundHalfEven } from "./mtcnn_ops.js";
import { pilResize } from "./resize.js";

const THUMB_MARGIN = 0.45; // crops.py: thumbnails show some hair and chin around the box

export class FaceError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
    this.userMessage = message;
  }
}

const NO_FACE = "No face was found in this photo. Please upload a clear, front-facing photo of one person.";

// Detections above the confidence threshold as faces {box, confidence, keypoints, area}, largest first.
export function facesOf(detections, settings) {
  const faces = detections
    .filter((d) => d.confidence >= settings.detect_min_confidence && d.box[2] > 0 && d.box[3] > 0)
    .map((d) => ({ box: d.box.slice(), confidence: d.confidence, keypoints: d.keypoints, area: d.box[2] * d.box[3] }));
  return faces.sort((a, b) => b.area - a.area); // stable, as Python's sorted
}

function side(face, scale) {
  return Math.min(face.box[2], face.box[3]) * scale;
}

// The face the photo is about (detect.py main_face); FaceError when there is none usable.
export function mainFace(faces, photo, settings) {
  if (!faces.length) throw new FaceError("no_face", NO_FACE);
  const usable = faces.filter((f) => side(f, photo.scale) >= settings.min_face_px);
  if (!usable.length) {
    throw new FaceError("face_too_small", `The face in this photo is only ${Math.round(side(faces[0], photo.scale))} px ` +
      `across; at least ${settings.min_face_px} px is needed. Please use a closer or larger photo.`);
  }
  if (settings.face_choice === "largest") return usable[0];
  const cx = photo.width / 2, cy = photo.height / 2;
  let best = null, bestDistance = Infinity;
  for (const f of usable) {
    if (f.area < 0.5 * usable[0].area) continue;
    const d = (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2;
    if (d < bestDistance) { best = f; bestDistance = d; }
  }
  return best;
}

// The face a visitor chose by its index (detect.py pick_face).
export function pickFace(faces, index, photo, settings) {
  if (!faces.length) throw new FaceError("no_face", NO_FACE);
  if (!(index >= 0 && index < faces.length)) {
    const count = faces.length === 1 ? "1 face (number 0)" : `${faces.length} faces (numbered 0 to ${faces.length - 1})`;
    throw new FaceError("no_such_face", `There is no face ${index} in this photo: it has ${count}.`);
  }
  const face = faces[index];
  if (side(face, photo.scale) < settings.min_face_px) {
    throw new FaceError("face_too_small", `Face ${index} is only ${Math.round(side(face, photo.scale))} px across; ` +
      `at least ${settings.min_face_px} px is needed to compare it. Please choose another face or a closer photo.`);
  }
  return face;
}

// crops.py crop_box: the box plus `margin` x its longer side on every side (clipped to the image),
// resized to size x size with Pillow's bilinear filter. photo: {rgb, width, height}.
export function cropBox(photo, box, margin, size) {
  const [x, y, w, h] = box;
  const pad = margin * Math.max(w, h);
  const x1 = Math.max(roundHalfEven(x - pad), 0), y1 = Math.max(roundHalfEven(y - pad), 0);
  const x2 = Math.min(roundHalfEven(x + w + pad), photo.width), y2 = Math.min(roundHalfEven(y + h + pad), photo.height);
  const pw = Math.max(x2 - x1, 0), ph = Math.max(y2 - y1, 0);
  const patch = new Uint8Array(pw * ph * 3);
  for (let row = 0; row < ph; row++) {
    const from = ((y1 + row) * photo.width + x1) * 3;
    patch.set(photo.rgb.subarray(from, from + pw * 3), row * pw * 3);
  }
  return pilResize(patch, pw, ph, size, size);
}

// crops.py face_thumbnail: a square, face-centred crop for display.
export function faceThumbnail(photo, face, size) {
  const [x, y, w, h] = face.box;
  let s = Math.max(w, h) * (1 + 2 * THUMB_MARGIN);
  s = Math.min(s, photo.width, photo.height);
  const cx = x + w / 2, cy = y + h / 2;
  const left = Math.min(Math.max(cx - s / 2, 0), photo.width - s);
  const top = Math.min(Math.max(cy - s / 2, 0), photo.height - s);
  return cropBox(photo, [left, top, s, s], 0, size);
}

// A face's box in the original photo's pixels (face_box.py original_box).
export function originalBox(face, scale) {
  return face.box.map((v) => roundHalfEven(v * scale));
}
