// Private mode on the upload page: the face is found and measured in this browser and only its
// embedding (128 numbers) is sent; the photo never leaves the device. The networks download in the
// background as soon as the page opens (once: they are cached), with their progress shown; a visitor
// may untick private mode to upload instead. The upload form (static/js/page/upload_form.js) asks
// window.LooksLikePrivate whether a form should go this way (`wanted`) and hands it the chosen photos
// (`match`: up to 3 of one person, whose embeddings go together); the results page then shows the crop
// and face boxes kept here, and the face picker (one photo) re-matches without any upload.

import { loadNetworks, unsupported } from "./assets.js";
import { postEmbeddings } from "./client.js";
import { cropBox, faceThumbnail, facesOf, mainFace, originalBox, pickFace } from "./faces.js";
import { embed } from "./facenet.js";
import { Cascade } from "./mtcnn.js";
import { cropUrl, decodePhoto } from "./photo.js";

const node = document.querySelector("meta[name=lookslike-private-mode]");
const manifest = node ? JSON.parse(node.content) : { available: false };
const settings = manifest.available ? manifest.model.settings : null;
const THUMB = 360; // px of the face shown on the results page (app/web PAGE_FACE_SIZE)
const ORDINALS = ["First", "Second", "Third"];
const state = { loading: null, run: null, cascade: null, failed: "", done: 0, total: 0, timings: null,
                runtime: null, listeners: new Set() };

function notify() {
  state.listeners.forEach((listener) => listener());
}

function mb(bytes) {
  return (bytes / 1048576).toFixed(bytes >= 10 * 1048576 ? 0 : 1) + " MB";
}

// Start the download and the networks (once); resolves when they are ready.
function start() {
  if (!state.loading) {
    state.loading = loadNetworks(manifest, (done, total) => { state.done = done; state.total = total; notify(); })
      .then(({ run, backend, threads }) => {
        state.run = run;
        state.runtime = { backend, threads };
        state.cascade = new Cascade(run, settings);
        notify();
      })
      .catch((err) => { state.failed = err.userMessage || String(err); notify(); throw err; });
  }
  return state.loading;
}

// One chosen photo's faces (decoded and detected here), kept in this page's memory only: the first photo's
// for the results page and its face picker, with the others of a several-photo match.
class Visit {
  constructor(photo, faces, fields) {
    this.private = true;
    this.photo = photo;
    this.faces = faces;
    this.fields = fields; // the form's top_k and filters: a re-match keeps them
    this.others = []; // the other photos' visits, matched together with this one
    this.boxes = faces.map((f) => originalBox(f, photo.scale));
    this.width = photo.originalWidth;
    this.height = photo.originalHeight;
    this.picked = false;
  }

  // Decode and detect a chosen file; errors name the photo (`photo`: its position) when it is one of several.
  static async of(file, fields, index, count, timings) {
    try {
      const t0 = performance.now();
      const photo = await decodePhoto(file, settings.detect_max_side);
      const t1 = performance.now();
      const faces = facesOf(await state.cascade.detect(photo.rgb, photo.width, photo.height), settings)
        .slice(0, settings.max_faces);
      const visit = new Visit(photo, faces, fields);
      visit.main = mainFace(faces, photo, settings);
      timings.decode = (timings.decode || 0) + t1 - t0;
      timings.detect = (timings.detect || 0) + performance.now() - t1;
      return visit;
    } catch (err) {
      if (count > 1 && err.userMessage) {
        err.userMessage = `${ORDINALS[index]} photo: ${err.userMessage}`;
        err.photo = index;
      }
      throw err;
    }
  }

  embedding(face) {
    const crop = cropBox(this.photo, face.box, settings.crop_margin, settings.input_side);
    return embed(state.run, crop, settings.input_side, settings.embed_flip);
  }

  async send(face, progress, timings) {
    progress.show(this.others.length ? "Measuring your faces on this device…" : "Measuring your face on this device…");
    const t0 = performance.now();
    const embeddings = [await this.embedding(face)];
    for (const other of this.others) embeddings.push(await other.embedding(other.main));
    const t1 = performance.now();
    progress.show("Finding your look-alikes…");
    const response = await postEmbeddings(manifest.match_url, embeddings, manifest.model.id, this.fields);
    state.timings = { ...timings, embed: t1 - t0, match: performance.now() - t1 };
    if (response.status >= 200 && response.status < 300) {
      this.faceIndex = this.faces.indexOf(face);
      this.faceUrl = await cropUrl(faceThumbnail(this.photo, face, THUMB), THUMB);
    }
    response.photo = this;
    return response;
  }

  async rematch(index, topK, progress) {
    const face = pickFace(this.faces, index, this.photo, settings);
    this.picked = true;
    this.fields = this.fields.filter(([key]) => key !== "top_k").concat([["top_k", topK]]);
    return this.send(face, progress, {});
  }
}

async function ready(progress) {
  if (state.run) return;
  const show = () => {
    const fraction = state.total ? state.done / state.total : undefined;
    progress.show("Getting the face networks ready (first visit only)… " +
      (state.total ? Math.round(100 * fraction) + "%" : ""), fraction);
  };
  state.listeners.add(show);
  show();
  try {
    await start();
  } catch (err) {
    const why = err.userMessage || String(err);
    throw { userMessage: `Private mode could not start: ${why}. Your photo was not sent. Choose “Find my ` +
      "look-alike” again to upload it instead (it is analysed in memory and never stored)." };
  } finally {
    state.listeners.delete(show);
  }
}

// The private flow of the match form: resolves {status, text, photo} as the form's upload does. Several
// photos (of one person) are each decoded, detected and embedded here; their embeddings go together.
async function match(files, fields, progress) {
  await ready(progress);
  const timings = {};
  const visits = [];
  for (const [i, file] of files.entries()) {
    progress.show(files.length > 1 ? `Finding your face in photo ${i + 1} of ${files.length} on this device…`
      : "Finding your face on this device…");
    visits.push(await Visit.of(file, fields, i, files.length, timings));
  }
  const [first, ...others] = visits;
  first.url = URL.createObjectURL(files[0]); // the face picker's photo
  first.others = others;
  return first.send(first.main, progress, timings);
}

// A photo's main face, found and embedded here, without sending anything: {embedding, box (working px),
// boxes (original px), faceIndex, scale, timings}. The parity tests compare it with the server's.
async function analyze(file) {
  await start();
  const t0 = performance.now();
  const photo = await decodePhoto(file, settings.detect_max_side);
  const t1 = performance.now();
  const faces = facesOf(await state.cascade.detect(photo.rgb, photo.width, photo.height), settings)
    .slice(0, settings.max_faces);
  const face = mainFace(faces, photo, settings);
  const t2 = performance.now();
  const crop = cropBox(photo, face.box, settings.crop_margin, settings.input_side);
  const embedding = await embed(state.run, crop, settings.input_side, settings.embed_flip);
  const t3 = performance.now();
  return { embedding: Array.from(embedding), box: face.box, boxes: faces.map((f) => originalBox(f, photo.scale)),
           faceIndex: faces.indexOf(face), scale: photo.scale, width: photo.width, height: photo.height,
           timings: { decode: t1 - t0, detect: t2 - t1, embed: t3 - t2 } };
}

function bind(box) {
  const toggle = box.querySelector("[data-private-toggle]");
  const status = box.querySelector("[data-private-status]");
  const bar = box.querySelector("[data-private-progress]");
  const form = box.closest("form");
  const fine = form && form.querySelector("[data-fineprint-text]");
  const uploadText = fine ? fine.textContent : "";
  const why = unsupported();
  box.hidden = false;
  let said = "";
  const say = (text) => { if (text !== said) status.textContent = said = text; };
  function render() {
    const on = toggle.checked && !why && !state.failed;
    if (fine) fine.textContent = on ? "Your photo stays on this device: only 128 numbers describing your face are sent."
      : uploadText;
    bar.hidden = !(on && !state.run);
    if (why || state.failed) {
      toggle.checked = false;
      toggle.disabled = true;
      say(`Private mode is not available: ${why || state.failed}. Your photo will be sent to this server instead, ` +
        "analysed in memory and never stored.");
    } else if (!on) {
      say("Off: your photo will be sent to this server, analysed in memory and never stored.");
    } else if (state.run) {
      say("Ready: the face networks run in your browser.");
    } else {
      bar.max = state.total || 1;
      bar.value = state.done;
      const quarter = state.total ? Math.floor((4 * state.done) / state.total) : 0; // spoken 4 times at most
      say(`Getting the face networks ready (first visit only${state.total ? ", " + mb(state.total) : ""}): ` +
        `${quarter * 25}% done. You can choose your photo meanwhile.`);
    }
  }
  toggle.addEventListener("change", () => { if (toggle.checked) start().catch(() => {}); render(); });
  state.listeners.add(render);
  if (toggle.checked && !why) start().catch(() => {});
  render();
}

if (manifest.available) {
  document.querySelectorAll("[data-private-box]").forEach(bind);
  window.LooksLikePrivate = {
    wanted(form) {
      const toggle = form.querySelector("[data-private-toggle]");
      return !!(toggle && toggle.checked && !unsupported() && !state.failed);
    },
    match,
    analyze,
    get timings() { return state.timings; },
    get ready() { return !!state.run; },
    get runtime() { return state.runtime; }, // {backend: "wasm" or "webgpu", threads}, once ready
  };
}
