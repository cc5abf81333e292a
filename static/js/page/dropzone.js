// One photo slot of an upload form: the chosen photos' previews, drag and drop, and the camera. A slot
// of several (data-most > 1) shows them as thumbnails, each with a remove button, and offers to add
// another; its file input is kept holding them all, as if the visitor had chosen them together.

import { $, hideError, showError } from "./dom.js";
import { initCamera } from "./camera.js";
import { PhotoSet, photosSaid } from "./photo_set.js";

// Put `files` into a file input; false where the browser cannot (the slot's own list still holds them).
function setInputFiles(input, files) {
  try {
    const dt = new DataTransfer();
    files.forEach((file) => dt.items.add(file));
    input.files = dt.files;
    return true;
  } catch (err) {
    return false;
  }
}

function thumb(file, i, count, remove) {
  const item = document.createElement("li");
  item.className = "photo-thumb";
  const img = document.createElement("img");
  img.alt = count > 1 ? `Your photo ${i + 1} of ${count}` : "Your chosen photo";
  if (i === 0) img.setAttribute("data-preview", "");
  img.src = URL.createObjectURL(file);
  img.onerror = () => { // a format the browser cannot show: name it instead
    const name = document.createElement("span");
    name.className = "photo-name";
    name.textContent = file.name;
    img.replaceWith(name);
  };
  const caption = document.createElement("span");
  caption.className = "photo-caption";
  caption.textContent = count > 1 ? `Photo ${i + 1}` : "";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "remove-button";
  button.textContent = "Remove";
  const which = document.createElement("span");
  which.className = "visually-hidden";
  which.textContent = count > 1 ? ` photo ${i + 1}` : " this photo";
  button.appendChild(which);
  button.addEventListener("click", () => remove(i));
  item.append(img, caption, button);
  return item;
}

// Wire `zone`; returns the slot: {name, input, files(), mark(index)}.
export function initSlot(zone, errorBox) {
  const input = $(zone, "input[type=file]:not([data-add-input])");
  const addInput = $(zone, "[data-add-input]");
  const addLabel = $(zone, "[data-add-label]");
  const thumbs = $(zone, "[data-thumbs]");
  const status = $(zone, "[data-photos-status]");
  const previewBox = $(zone, "[data-preview-box]");
  const preview = $(zone, "[data-preview]");
  const empty = $(zone, "[data-empty]");
  const chooseText = $(zone, "[data-choose-text]");
  const title = $(zone, "[data-drop-title]");
  const fileName = $(zone, "[data-file-name]");
  const initialText = chooseText.textContent;
  const set = new PhotoSet(thumbs ? parseInt(zone.dataset.most, 10) : 1);
  let urls = [];

  function showOne(file) { // a slot of one photo: its preview, large
    preview.onload = () => { previewBox.hidden = false; empty.hidden = true; };
    preview.onerror = () => {
      previewBox.hidden = true;
      empty.hidden = false;
      title.hidden = true;
      fileName.textContent = file.name;
      fileName.hidden = false;
    };
    preview.src = urls[0];
  }

  function render(said) {
    urls.forEach((url) => URL.revokeObjectURL(url));
    urls = [];
    const count = set.count;
    zone.classList.toggle("filled", count > 0);
    empty.hidden = count > 0 && !!thumbs;
    title.hidden = false;
    fileName.hidden = true;
    previewBox.hidden = true;
    chooseText.textContent = count === 0 ? initialText : count === 1 ? "Choose another photo" : "Choose other photos";
    if (thumbs) {
      thumbs.replaceChildren(...set.files.map((file, i) => thumb(file, i, count, removePhoto)));
      urls = Array.from(thumbs.querySelectorAll("img"), (img) => img.src);
      thumbs.dataset.count = String(count);
      previewBox.hidden = count === 0;
      addInput.hidden = addLabel.hidden = count === 0 || set.full;
      status.textContent = said || photosSaid(count, set.most);
    } else if (count) {
      urls = [URL.createObjectURL(set.files[0])];
      showOne(set.files[0]);
    }
    camera.update(count, set.most);
  }

  function changed(problem, said) {
    setInputFiles(input, set.files);
    render(said);
    if (problem) showError(errorBox, problem);
  }

  function removePhoto(index) {
    hideError(errorBox);
    set.remove(index);
    changed(null, `Photo ${index + 1} removed. ` + photosSaid(set.count, set.most));
    const buttons = thumbs.querySelectorAll(".remove-button");
    (buttons[Math.min(index, buttons.length - 1)] || input).focus();
  }

  input.addEventListener("change", () => {
    hideError(errorBox);
    changed(set.choose(input.files));
  });
  if (addInput) {
    addInput.addEventListener("change", () => {
      hideError(errorBox);
      const problem = set.add(addInput.files);
      addInput.value = "";
      changed(problem);
      (addInput.hidden ? input : addInput).focus();
    });
  }

  ["dragenter", "dragover"].forEach((type) => {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach((type) => {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", (e) => {
    const files = e.dataTransfer && e.dataTransfer.files;
    if (!files || !files.length) return;
    hideError(errorBox);
    changed(set.add(files));
  });

  const camera = initCamera(zone, (file) => { hideError(errorBox); changed(set.add([file])); }, errorBox,
                            () => input.focus());
  if (input.files && input.files.length) set.choose(input.files); // chosen before the script ran
  render();

  return {
    name: input.name,
    input,
    files: () => set.files.slice(),
    // Outline photo `index` as the one an error is about (until the photos change).
    mark(index) {
      const item = thumbs && thumbs.children[index];
      if (!item) return;
      item.classList.add("flagged");
      const flag = document.createElement("span");
      flag.className = "photo-flag";
      flag.textContent = "This one";
      item.insertBefore(flag, item.querySelector(".remove-button"));
    },
  };
}
