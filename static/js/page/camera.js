// The webcam of a photo slot: a mirrored live preview (as a mirror shows a face), and each picture
// taken as an in-memory JPEG file, like a chosen file. Nothing is recorded or sent until the form is.

import { $, hideError, showError } from "./dom.js";
import { JPEG_QUALITY } from "./photos.js";

// In plain words, why the camera did not start.
export function cameraMessage(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Camera access is blocked. Allow the camera in your browser’s settings, or choose a photo instead.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No camera was found on this device. Please choose a photo instead.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The camera is in use by another app. Close it and try again, or choose a photo instead.";
  }
  return "The camera is not available" + (err && err.message ? " (" + err.message + ")" : "") + ". Please choose a photo instead.";
}

// Wire the camera of `zone`: `taken(file)` receives each picture (then `afterShot()` says where focus goes).
// Returns {update(count, most)}: the start button's words for a slot holding `count` of `most` photos.
export function initCamera(zone, taken, errorBox, afterShot) {
  const camera = $(zone, "[data-camera]");
  const none = { update() {} };
  if (!camera) return none;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.isSecureContext) {
    camera.hidden = true;
    return none;
  }
  const start = $(camera, "[data-camera-start]");
  const startText = $(camera, "[data-camera-start-text]");
  const initialText = startText.textContent;
  const view = $(camera, "[data-camera-view]");
  const video = $(camera, "[data-camera-video]");
  let stream = null;
  let room = true;

  function stop() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    view.hidden = true;
    start.hidden = !room;
  }

  start.addEventListener("click", () => {
    hideError(errorBox);
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false })
      .then((s) => {
        stream = s;
        video.srcObject = s;
        view.hidden = false;
        start.hidden = true;
        $(camera, "[data-camera-snap]").focus();
      })
      .catch((err) => { showError(errorBox, cameraMessage(err)); });
  });

  $(camera, "[data-camera-cancel]").addEventListener("click", () => { stop(); if (!start.hidden) start.focus(); });

  $(camera, "[data-camera-snap]").addEventListener("click", () => {
    if (!stream || !video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const ctx = canvas.getContext("2d");
    ctx.translate(canvas.width, 0); // keep the photo as mirrored as the preview was
    ctx.scale(-1, 1);
    ctx.drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) { stop(); showError(errorBox, "The camera picture could not be taken. Please try again."); return; }
      taken(new File([blob], "camera.jpg", { type: "image/jpeg" }));
      stop();
      if (!start.hidden) start.focus();
      else if (afterShot) afterShot();
    }, "image/jpeg", JPEG_QUALITY);
  });

  return {
    update(count, most) {
      room = most === 1 || count < most; // one photo is replaced by the next
      startText.textContent = count === 0 ? initialText : most === 1 ? "Retake" : "Take another photo";
      if (!stream) start.hidden = !room;
    },
  };
}
