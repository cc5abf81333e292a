// A chosen photo as the server would decode it (app/pipeline/photos/imaging.py): upright (EXIF
// orientation applied), without colour management (Pillow applies none), transparent pixels on
// white, 8-bit RGB, then at most DETECT_MAX_SIDE px on its longer side with Pillow's resize. The
// server decodes a large JPEG at 1/2, 1/4 or 1/8 scale in libjpeg; here that step is a box average.

import { FaceError } from "./faces.js";
import { roundHalfEven } from "./mtcnn_ops.js";
import { pilReduce, pilResizeReducing } from "./resize.js";

const DRAFT_MIN_FRACTION = 0.75; // imaging.py
const MAX_PIXELS = 100e6; // a decode this large would exhaust a phone's memory
const UNREADABLE = "The file is not an image we can read. Please upload a JPEG, PNG, WebP, GIF or BMP photo.";

async function isJpeg(file) {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  return head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff;
}

// imaging.py draft_size: the JPEG reduction (1, 2, 4 or 8) the server decodes at.
function draftFactor(width, height, maxSide) {
  const longer = Math.max(width, height);
  let reduce = 1;
  while (reduce < 8 && longer / (2 * reduce) >= DRAFT_MIN_FRACTION * maxSide) reduce *= 2;
  return reduce;
}

async function pixels(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image", colorSpaceConversion: "none",
                                             premultiplyAlpha: "none" });
  } catch (err) {
    throw new FaceError("unsupported_media", UNREADABLE);
  }
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new FaceError("too_large", `The image is ${width}x${height} pixels; the limit is ${MAX_PIXELS / 1e6} ` +
      "megapixels. Please choose a smaller photo.");
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { rgb, width, height };
}

// {rgb, width, height, scale (original px per working px), originalWidth, originalHeight}.
export async function decodePhoto(file, maxSide) {
  const decoded = await pixels(file);
  let { rgb, width, height } = decoded;
  let scale = 1;
  const draft = (await isJpeg(file)) ? draftFactor(width, height, maxSide) : 1;
  if (draft > 1) {
    ({ rgb, width, height } = pilReduce(rgb, width, height, draft, draft));
    scale = draft;
  }
  const longer = Math.max(width, height);
  if (longer > maxSide) {
    const outW = Math.max(1, roundHalfEven(width * maxSide / longer));
    const outH = Math.max(1, roundHalfEven(height * maxSide / longer));
    rgb = pilResizeReducing(rgb, width, height, outW, outH);
    scale = scale * longer / maxSide;
    width = outW;
    height = outH;
  }
  return { rgb, width, height, scale, originalWidth: decoded.width, originalHeight: decoded.height };
}

// An RGB crop (side x side) as a JPEG object URL, for the results page (never sent anywhere).
export async function cropUrl(rgb, side) {
  const canvas = new OffscreenCanvas(side, side);
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(side, side);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    image.data[i] = rgb[j];
    image.data[i + 1] = rgb[j + 1];
    image.data[i + 2] = rgb[j + 2];
    image.data[i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return URL.createObjectURL(await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 }));
}
