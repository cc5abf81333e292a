// The pages the server answers with are shown in place of this one, each as a history entry of its own:
// Back returns to the form with the photo still chosen (the photo is kept in this page's memory only,
// never in the browser's history or storage), Forward to the results again.

import { $$, UserError } from "./dom.js";

const views = new Map(); // history entries of this page: id -> {node, title, url}
let currentView = 0;
let viewSeq = 0;
let enhance = () => {};

// Start: the page as loaded is view 0; `init` enhances every view shown (the first one included).
export function startViews(main, init) {
  enhance = init;
  views.set(0, { node: main, title: document.title, url: location.href });
  history.replaceState({ lookslike: 0 }, "");
  init(main);
}

// Show the page the server answered with in place of this one, as a new history entry.
export function showPage(html, url) {
  const doc = new DOMParser().parseFromString(html, "text/html");
  let next = doc.getElementById("main");
  const current = document.getElementById("main");
  if (!next || !current) throw new UserError("The server sent an unexpected answer. Please try again.");
  next = document.adoptNode(next);
  current.replaceWith(next);
  document.title = doc.title;
  viewSeq += 1;
  currentView = viewSeq;
  views.set(currentView, { node: next, title: doc.title, url });
  history.pushState({ lookslike: currentView }, "", url);
  window.scrollTo(0, 0);
  enhance(next);
  const heading = next.querySelector("h1");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// Show again the latest view that holds `selector` (the upload form, its photos still chosen) as a new
// history entry: its node, or null when this page has no such view (it was opened on its own).
export function returnTo(selector) {
  let found = null;
  views.forEach((view, id) => { if (view.node.querySelector(selector)) found = id; });
  if (found === null) return null;
  const view = views.get(found);
  document.getElementById("main").replaceWith(view.node);
  document.title = view.title;
  currentView = found;
  history.pushState({ lookslike: found }, "", view.url);
  resetForms(view.node);
  return view.node;
}

function resetForms(root) {
  $$(root, "form[data-enhance]").forEach((form) => { if (form.resetBusy) form.resetBusy(); });
}

window.addEventListener("popstate", (e) => {
  const id = e.state && e.state.lookslike;
  const view = views.get(id);
  if (!view) { location.reload(); return; }
  const current = document.getElementById("main");
  $$(current, "[data-camera-cancel]").forEach((b) => b.click());
  current.replaceWith(view.node);
  document.title = view.title;
  currentView = id;
  resetForms(view.node);
});

window.addEventListener("pageshow", (e) => {
  if (e.persisted) resetForms(document);
});
