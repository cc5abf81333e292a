// A chosen photo before it is sent: a quick check of the file, then the file itself when it is already
// small and readable, else a JPEG redrawn upright (EXIF orientation applied) at the size the server
// works at, so that a phone's 12-megapixel photo uploads in a fraction of the time.

import { UserError } from "./dom.js";

const READABLE = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"];
export const MAX_DECODE_BYTES = 60 * 1024 * 1024; // larger files are refused before any decoding
export const JPEG_QUALITY = 0.9;

export function mb(bytes) {
  const value = bytes / (1024 * 1024);
  return (value >= 10 ? Math.round(value) : Math.round(value * 10) / 10) + " MB";
}

// A quick look at a chosen file: an error message, or null when it may be a photo.
export function checkFile(file) {
  const type = (file.type || "").toLowerCase();
  if (type && type.indexOf("image/") !== 0) {
    return "“" + file.name + "” is not a photo. Please choose a JPEG, PNG or WebP image.";
  }
  if (file.size === 0) return "“" + file.name + "” is empty. Please choose another photo.";
  if (file.size > MAX_DECODE_BYTES) {
    return "This file is " + mb(file.size) + "; please choose a photo under " + mb(MAX_DECODE_BYTES) + ".";
  }
  return null;
}

// Decode a file upright (EXIF orientation applied): an ImageBitmap or an <img>, or null.
export function decode(file) {
  function viaImg() {
    return new Promise((resolve) => {
      const img = new Image();
      const url = URL.createObjectURL(file);
      img.onload = () => { resolve(img); URL.revokeObjectURL(url); };
      img.onerror = () => { resolve(null); URL.revokeObjectURL(url); };
      img.src = url;
    });
  }
  if (!window.createImageBitmap) return viaImg();
  return createImageBitmap(file, { imageOrientation: "from-image" })
    .catch(() => createImageBitmap(file))
    .catch(viaImg);
}

export function sizeOf(image) {
  return { w: image.naturalWidth || image.width, h: image.naturalHeight || image.height };
}

// The photo to send: the file itself when it is already small and readable, else a JPEG
// re-drawn at most maxSide pixels on its longer side. Throws UserError when it cannot be sent.
export function preparePhoto(file, maxBytes, maxSide) {
  const problem = checkFile(file);
  if (problem) return Promise.reject(new UserError(problem));
  const type = (file.type || "").toLowerCase();
  return decode(file).then((image) => {
    if (!image) {
      if (file.size > maxBytes) {
        throw new UserError("This photo is " + mb(file.size) + ", over the " + mb(maxBytes) +
          " limit, and your browser cannot shrink it. Please choose a smaller photo.");
      }
      return file; // let the server try a format this browser cannot read
    }
    const size = sizeOf(image);
    const scale = Math.min(1, maxSide / Math.max(size.w, size.h));
    if (scale === 1 && file.size <= maxBytes && READABLE.indexOf(type) >= 0) {
      if (image.close) image.close();
      return file;
    }
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(size.w * scale));
    canvas.height = Math.max(1, Math.round(size.h * scale));
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // transparent pixels become white, as the server would make them
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    if (image.close) image.close();
    return new Promise((resolve, reject) => {
      canvas.toBlob((blob) => {
        if (!blob) { reject(new UserError("Your browser could not prepare this photo. Please try another one.")); return; }
        if (blob.size > maxBytes) { reject(new UserError("This photo is too large to send. Please choose a smaller one.")); return; }
        const name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
        resolve(new File([blob], name, { type: "image/jpeg" }));
      }, "image/jpeg", JPEG_QUALITY);
    });
  });
}
