// The page's requests to its own routes (the upload form, the face picker, private mode's embedding):
// a POST answered with a page, resolved as {status, text}, with upload progress and a time limit.

import { UserError } from "./dom.js";

const TIMEOUT_MS = 120000;
export const CONNECTION_FAILED = "The connection failed. Please check your internet connection and try again.";

// POST `body` (FormData, or a string with its `headers`): resolves {status, text}; rejects with a UserError.
// onProgress("upload", fraction) while the body goes, then onProgress("process") while the server works.
export function send(url, body, onProgress, headers) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.timeout = TIMEOUT_MS;
    Object.entries(headers || {}).forEach(([name, value]) => xhr.setRequestHeader(name, value));
    if (onProgress) {
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress("upload", e.loaded / e.total); };
      xhr.upload.onload = () => { onProgress("process"); };
    }
    xhr.onload = () => { resolve({ status: xhr.status, text: xhr.responseText }); };
    xhr.onerror = () => { reject(new UserError(CONNECTION_FAILED)); };
    xhr.ontimeout = () => { reject(new UserError("The server took too long to answer. Please try again.")); };
    xhr.send(body);
  });
}

// The error of a page the server answered with (its inline error box): {message, photo}, where photo is
// the position of the one photo of several it is about, or null. A generic message when there is none.
export function errorOf(response) {
  const doc = new DOMParser().parseFromString(response.text || "", "text/html");
  const node = doc.querySelector("[data-error-message]");
  const message = node && node.textContent.trim();
  const box = doc.querySelector("[data-error-photo]");
  return { message: message || "Something went wrong (error " + response.status + "). Please try again.",
           photo: box ? parseInt(box.dataset.errorPhoto, 10) : null };
}

export function errorFrom(response) {
  return errorOf(response).message;
}
