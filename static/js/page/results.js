// The results page: the visitor's face (in private mode, from this page's memory), and the face picker,
// which outlines every face found on the photo still held here and matches another one on request.

import { $, Progress, UserError, hideError, messageOf, showError } from "./dom.js";
import { lastPhoto } from "./memory.js";
import { initShare } from "./share_card.js";
import { errorFrom, send } from "./transport.js";
import { returnTo, showPage } from "./views.js";

export function initResults(root) {
  const hero = $(root, "[data-results]");
  if (!hero) return;
  if (hero.hasAttribute("data-private")) showPrivateFace(root, hero);
  initPicker(root, hero);
  initShare(root, hero);
  const more = $(hero, "[data-add-photos]");
  if (more) more.addEventListener("click", addPhotos);
}

// A close call's "Add another photo": back to the form with the photos still chosen, at the add button.
// Without the form in this page's memory the link opens a fresh upload page that asks for 2 or 3 photos.
function addPhotos(e) {
  const form = returnTo("[data-add-input]");
  if (!form) return;
  e.preventDefault();
  const add = $(form, "[data-add-input]");
  const target = add.hidden ? $(form, "input[type=file]") : add;
  target.closest("[data-dropzone]").scrollIntoView({ block: "center" });
  target.focus({ preventScroll: true });
}

// A private-mode results page: the face and the face count come from this page's memory, not the server.
function showPrivateFace(root, hero) {
  const photo = lastPhoto();
  if (!photo || !photo.private) return;
  $(hero, "[data-you-img]").src = photo.faceUrl;
  const section = $(root, "[data-picker-section]");
  if (!section || photo.boxes.length < 2) return;
  $(section, "[data-faces-count]").textContent = String(photo.boxes.length);
  if (photo.picked) $(section, "[data-picker-said]").textContent = "We matched the face you picked (outlined).";
  section.hidden = false;
}

// Where the faces are: the private record's, or those the server put on the page.
function facesOn(photo, hero) {
  if (photo.private) {
    return { boxes: photo.boxes, chosen: photo.faceIndex, width: photo.width, height: photo.height };
  }
  return { boxes: JSON.parse(hero.dataset.boxes || "[]"), chosen: parseInt(hero.dataset.faceIndex, 10),
           width: parseFloat(hero.dataset.photoWidth), height: parseFloat(hero.dataset.photoHeight) };
}

function faceButton(box, i, faces) {
  const { width, height, chosen, boxes } = faces;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "face-box";
  button.style.left = (100 * box[0] / width) + "%";
  button.style.top = (100 * box[1] / height) + "%";
  button.style.width = (100 * box[2] / width) + "%";
  button.style.height = (100 * box[3] / height) + "%";
  const matched = i === chosen;
  button.setAttribute("aria-pressed", matched ? "true" : "false");
  const tag = document.createElement("span");
  tag.className = "face-tag";
  tag.textContent = matched ? "Face " + (i + 1) + " · matched" : "Face " + (i + 1);
  const more = document.createElement("span");
  more.className = "visually-hidden";
  more.textContent = matched ? " of " + boxes.length : " of " + boxes.length + ": match this face instead";
  button.appendChild(tag);
  button.appendChild(more);
  return button;
}

function initPicker(root, hero) {
  const section = $(root, "[data-picker-section]");
  const photo = lastPhoto();
  if (!section || !photo) return; // without the photo in memory, the text alone explains
  let faces;
  try { faces = facesOn(photo, hero); } catch (err) { return; }
  if (faces.boxes.length < 2 || !(faces.width > 0) || !(faces.height > 0)) return;
  const stage = $(section, "[data-picker-stage]");
  const errorBox = $(section, "[data-error]");
  const progress = new Progress(section);

  const img = document.createElement("img");
  img.alt = "Your photo, with the " + faces.boxes.length + " faces we found outlined";
  img.src = photo.url;
  stage.appendChild(img);
  const buttons = faces.boxes.map((box, i) => {
    const button = faceButton(box, i, faces);
    button.addEventListener("click", () => { if (i !== faces.chosen) pick(i); });
    stage.appendChild(button);
    return button;
  });
  stage.hidden = false;
  $(section, "[data-picker-hint]").hidden = false;

  function sendFace(index) {
    if (photo.private) return photo.rematch(index, hero.dataset.topK, progress);
    const body = new FormData();
    body.append("photo", photo.blob, photo.blob.name || "photo.jpg");
    body.append("top_k", hero.dataset.topK);
    body.append("face", String(index));
    const filters = JSON.parse(hero.dataset.filters || "{}"); // the same search, another face
    Object.keys(filters).forEach((key) => body.append(key, String(filters[key])));
    return send(hero.dataset.matchUrl, body, (stage, fraction) => {
      if (stage === "upload") progress.show("Sending your photo… " + Math.round(fraction * 100) + "%", fraction * 0.999);
      else progress.show("Matching face " + (index + 1) + "…");
    });
  }

  function pick(index) {
    hideError(errorBox);
    buttons.forEach((b) => { b.disabled = true; });
    progress.show("Matching face " + (index + 1) + "…");
    sendFace(index).then((response) => {
      if (response.status >= 200 && response.status < 300) {
        showPage(response.text, hero.dataset.matchUrl);
        return;
      }
      throw new UserError(errorFrom(response));
    }).catch((err) => {
      progress.hide();
      buttons.forEach((b) => { b.disabled = false; });
      showError(errorBox, messageOf(err, String));
    });
  }
}
