// One photo slot of an upload form: the chosen photo's preview, drag and drop, and the camera.

import { $, hideError, showError } from "./dom.js";
import { initCamera } from "./camera.js";
import { checkFile, setInputFile } from "./photos.js";

export function initSlot(zone, errorBox) {
  const input = $(zone, "input[type=file]");
  const previewBox = $(zone, "[data-preview-box]");
  const preview = $(zone, "[data-preview]");
  const empty = $(zone, "[data-empty]");
  const chooseText = $(zone, "[data-choose-text]");
  const title = $(zone, "[data-drop-title]");
  const fileName = $(zone, "[data-file-name]");
  const initialText = chooseText.textContent;
  let url = null;

  function show(file) {
    if (url) URL.revokeObjectURL(url);
    url = null;
    zone.classList.toggle("filled", !!file);
    if (!file) {
      previewBox.hidden = true;
      empty.hidden = false;
      title.hidden = false;
      fileName.hidden = true;
      chooseText.textContent = initialText;
      return;
    }
    url = URL.createObjectURL(file);
    preview.onload = () => { previewBox.hidden = false; empty.hidden = true; };
    preview.onerror = () => { // a format the browser cannot show: name it instead
      previewBox.hidden = true;
      empty.hidden = false;
      title.hidden = true;
      fileName.textContent = file.name;
      fileName.hidden = false;
    };
    preview.src = url;
    chooseText.textContent = "Choose another photo";
  }

  function chosen() {
    hideError(errorBox);
    const file = input.files && input.files[0];
    if (!file) { show(null); return; }
    const problem = checkFile(file);
    if (problem) {
      input.value = "";
      show(null);
      showError(errorBox, problem);
      return;
    }
    show(file);
  }
  input.addEventListener("change", chosen);

  ["dragenter", "dragover"].forEach((type) => {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach((type) => {
    zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", (e) => {
    const file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (file && setInputFile(input, file)) chosen();
  });

  initCamera(zone, (file) => { if (setInputFile(input, file)) chosen(); }, errorBox);
}
