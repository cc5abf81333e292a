// Small pieces every module of the page shares: queries, the message a visitor can act on, the
// inline error box and the progress bar (both rendered by templates/_macros.html).

export function $(root, selector) { return root.querySelector(selector); }
export function $$(root, selector) { return Array.from(root.querySelectorAll(selector)); }

// A problem the visitor can act on: its message is shown as is.
export class UserError extends Error {
  constructor(message) {
    super(message);
    this.userMessage = message;
  }
}

// The words to show for an error: its own when it has them (ours, and private mode's), else `fallback`'s.
export function messageOf(err, fallback) {
  return err && err.userMessage ? err.userMessage : fallback(err);
}

export function showError(box, message) {
  if (!box) return;
  $(box, "[data-error-message]").textContent = message;
  box.hidden = false;
  if (box.getBoundingClientRect().top < 0) box.scrollIntoView({ block: "center" });
}

export function hideError(box) {
  if (box) { box.hidden = true; $(box, "[data-error-message]").textContent = ""; }
}

// The progress bar and its live label (a polite status: screen readers hear each new stage once).
export class Progress {
  constructor(root) {
    this.bar = $(root, "[data-progress]");
    this.fill = $(root, "[data-progress-fill]");
    this.label = $(root, "[data-progress-label]");
  }

  show(text, fraction) {
    if (!this.bar) return;
    this.bar.hidden = false;
    const known = typeof fraction === "number";
    this.bar.classList.toggle("indeterminate", !known);
    this.fill.style.width = known ? Math.round(fraction * 100) + "%" : "";
    if (this.label.textContent !== text) this.label.textContent = text;
  }

  hide() {
    if (!this.bar) return;
    this.bar.hidden = true;
    this.label.textContent = "";
  }
}
