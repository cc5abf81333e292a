// The upload forms (look-alikes, same person?): checked before sending, the photos shrunk in the browser
// to the size the server works at, upload then matching progress, and errors shown inline with the
// chosen photos kept. The answer replaces the page in place (views.js).

import { $, $$, Progress, UserError, hideError, messageOf, showError } from "./dom.js";
import { initSlot } from "./dropzone.js";
import { keepPhoto } from "./memory.js";
import { preparePhoto } from "./photos.js";
import { CONNECTION_FAILED, errorFrom, send } from "./transport.js";
import { showPage } from "./views.js";

export function enhanceForm(form) {
  if (form.dataset.enhanced) return;
  form.dataset.enhanced = "1";
  form.noValidate = true; // our inline messages replace the browser's bubbles
  const errorBox = $(form, "[data-error]");
  const submit = $(form, "[data-submit]");
  const progress = new Progress(form);
  const maxBytes = parseInt(form.dataset.maxBytes, 10) || 10 * 1024 * 1024;
  const maxSide = parseInt(form.dataset.maxSide, 10) || 1024;
  const isMatch = !!form.querySelector("input[name=top_k]");
  let busy = false;

  $$(form, "[data-dropzone]").forEach((zone) => initSlot(zone, errorBox));

  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    $$(form, "input, button[type=button]").forEach((el) => { el.disabled = on; });
    if (!on) progress.hide();
  }
  form.resetBusy = () => setBusy(false);

  // The photos' inputs, or null after saying which one is missing.
  function chosenInputs() {
    const inputs = $$(form, "input[type=file]");
    for (const input of inputs) {
      if (!input.files || !input.files.length) {
        const label = form.querySelector("label[for='" + input.id + "'] [data-choose-text]");
        showError(errorBox, inputs.length > 1
          ? "Please choose both photos first (" + (label ? label.textContent.toLowerCase() : input.name) + " is missing)."
          : "Please choose a photo first.");
        input.focus();
        return null;
      }
    }
    return inputs;
  }

  function upload(inputs, fields) {
    return Promise.all(inputs.map((input) => preparePhoto(input.files[0], maxBytes, maxSide)))
      .then((photos) => {
        const body = new FormData();
        photos.forEach((photo, k) => body.append(inputs[k].name, photo, photo.name || "photo.jpg"));
        fields.forEach(([key, value]) => body.append(key, value));
        if (isMatch) keepPhoto({ blob: photos[0], url: URL.createObjectURL(photos[0]) });
        return send(form.action, body, (stage, fraction) => {
          if (stage === "upload") progress.show("Uploading your photo… " + Math.round(fraction * 100) + "%", fraction * 0.999);
          else progress.show(form.dataset.busyText || "Working…");
        });
      });
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (busy) return;
    hideError(errorBox);
    $$(form, "[data-camera-cancel]").forEach((b) => { if (!b.closest("[hidden]")) b.click(); });
    const inputs = chosenInputs();
    if (!inputs) return;
    const fields = [];
    new FormData(form).forEach((value, key) => { if (typeof value === "string") fields.push([key, value]); });
    setBusy(true);
    // Private mode (static/js/private/main.js): the face is found and measured here; only its embedding is sent.
    const privately = isMatch && window.LooksLikePrivate && window.LooksLikePrivate.wanted(form);
    progress.show(privately ? "Finding your face on this device…" : "Preparing your photo…");
    (privately ? window.LooksLikePrivate.match(inputs[0].files[0], fields, progress) : upload(inputs, fields))
      .then((response) => {
        if (response.status >= 200 && response.status < 300) {
          if (response.photo) keepPhoto(response.photo);
          setBusy(false);
          showPage(response.text, form.action);
        } else if (response.status === 0) {
          throw new UserError(CONNECTION_FAILED);
        } else {
          setBusy(false);
          showError(errorBox, errorFrom(response));
        }
      })
      .catch((err) => {
        setBusy(false);
        showError(errorBox, messageOf(err, (e) => "Something went wrong: " + e + ". Please try again."));
      });
  });
}
