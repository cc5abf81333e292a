// LooksLike's page script, the entry of the modules beside it. Progressive enhancement only: every
// page works without it. With it, the upload forms check and shrink photos before sending and show
// progress and errors inline (upload_form.js, dropzone.js, camera.js); the answers replace the page
// in place with history entries (views.js); the results page gets a face picker (results.js) and a
// share picture (share_card.js). No inline scripts or style attributes are needed (strict CSP).

import { $$ } from "./dom.js";
import { initResults } from "./results.js";
import { enhanceForm } from "./upload_form.js";
import { startViews } from "./views.js";

function init(root) {
  $$(root, "form[data-enhance]").forEach(enhanceForm);
  initResults(root);
}

// A module runs once the document is parsed, before DOMContentLoaded.
const main = document.getElementById("main");
if (main) startViews(main, init);
