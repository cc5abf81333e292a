// The upload forms (look-alikes, same person?): checked before sending, the photos shrunk in the browser
// to the size the server works at, upload then matching progress, and errors shown inline with the
// chosen photos kept (the one an error is about outlined). The answer replaces the page in place (views.js).

import { $, $$, Progress, UserError, hideError, messageOf, showError } from "./dom.js";
import { initSlot } from "./dropzone.js";
import { keepPhoto } from "./memory.js";
import { preparePhoto } from "./photos.js";
import { CONNECTION_FAILED, errorOf, send } from "./transport.js";
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

  const slots = $$(form, "[data-dropzone]").map((zone) => initSlot(zone, errorBox));

  function setBusy(on) {
    busy = on;
    submit.disabled = on;
    form.setAttribute("aria-busy", on ? "true" : "false");
    $$(form, "input, button[type=button]").forEach((el) => { el.disabled = on; });
    if (!on) progress.hide();
  }
  form.resetBusy = () => setBusy(false);

  // True when every slot has its photos; else says which one is missing.
  function allChosen() {
    for (const slot of slots) {
      if (!slot.files().length) {
        const label = form.querySelector("label[for='" + slot.input.id + "'] [data-choose-text]");
        showError(errorBox, slots.length > 1
          ? "Please choose both photos first (" + (label ? label.textContent.toLowerCase() : slot.name) + " is missing)."
          : "Please choose a photo first.");
        slot.input.focus();
        return false;
      }
    }
    return true;
  }

  function upload(fields) {
    const chosen = slots.flatMap((slot) => slot.files().map((file) => [slot.name, file]));
    return Promise.all(chosen.map(([, file]) => preparePhoto(file, maxBytes, maxSide)))
      .then((photos) => {
        const body = new FormData();
        photos.forEach((photo, k) => body.append(chosen[k][0], photo, photo.name || "photo.jpg"));
        fields.forEach(([key, value]) => body.append(key, value));
        if (isMatch) keepPhoto({ blob: photos[0], url: URL.createObjectURL(photos[0]) });
        const what = photos.length > 1 ? "photos" : "photo";
        return send(form.action, body, (stage, fraction) => {
          if (stage === "upload") progress.show(`Uploading your ${what}… ` + Math.round(fraction * 100) + "%", fraction * 0.999);
          else progress.show(form.dataset.busyText || "Working…");
        });
      });
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (busy) return;
    hideError(errorBox);
    $$(form, "[data-camera-cancel]").forEach((b) => { if (!b.closest("[hidden]")) b.click(); });
    if (!allChosen()) return;
    const fields = [];
    new FormData(form).forEach((value, key) => { if (typeof value === "string") fields.push([key, value]); });
    setBusy(true);
    // Private mode (static/js/private/main.js): the faces are found and measured here; only their embeddings are sent.
    const privately = isMatch && window.LooksLikePrivate && window.LooksLikePrivate.wanted(form);
    const several = slots.reduce((n, slot) => n + slot.files().length, 0) > 1;
    progress.show(privately ? "Finding your face on this device…" : several ? "Preparing your photos…" : "Preparing your photo…");
    (privately ? window.LooksLikePrivate.match(slots[0].files(), fields, progress) : upload(fields))
      .then((response) => {
        if (response.status >= 200 && response.status < 300) {
          if (response.photo) keepPhoto(response.photo);
          setBusy(false);
          showPage(response.text, form.action);
        } else if (response.status === 0) {
          throw new UserError(CONNECTION_FAILED);
        } else {
          setBusy(false);
          const error = errorOf(response);
          showError(errorBox, error.message);
          if (error.photo !== null) slots[0].mark(error.photo);
        }
      })
      .catch((err) => {
        setBusy(false);
        showError(errorBox, messageOf(err, (e) => "Something went wrong: " + e + ". Please try again."));
        if (err && Number.isInteger(err.photo)) slots[0].mark(err.photo); // found on this device (private mode)
      });
  });
}
