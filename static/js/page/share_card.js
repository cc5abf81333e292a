// The share picture of a result, drawn on a canvas in the browser (nothing is uploaded): both faces,
// the name and the resemblance, 1200 x 630 (the Open Graph size), to download or share.

import { $ } from "./dom.js";
import { sizeOf } from "./photos.js";

function whenLoaded(img) {
  if (img.complete && img.naturalWidth) return Promise.resolve(img);
  return new Promise((resolve, reject) => {
    img.addEventListener("load", () => resolve(img), { once: true });
    img.addEventListener("error", reject, { once: true });
  });
}

// Largest font size (px, at most `size`) at which `text` fits in `maxWidth`.
function fitFont(ctx, text, weight, size, maxWidth) {
  const family = getComputedStyle(document.body).fontFamily || "sans-serif";
  for (; size > 12; size -= 2) {
    ctx.font = weight + " " + size + "px " + family;
    if (ctx.measureText(text).width <= maxWidth) break;
  }
  return size;
}

function circleImage(ctx, img, cx, cy, r) {
  ctx.save();
  ctx.beginPath();
  ctx.arc(cx, cy, r + 10, 0, Math.PI * 2);
  ctx.fillStyle = "rgba(255,255,255,.95)";
  ctx.fill();
  ctx.beginPath();
  ctx.arc(cx, cy, r, 0, Math.PI * 2);
  ctx.clip();
  const s = sizeOf(img);
  const side = Math.min(s.w, s.h);
  ctx.drawImage(img, (s.w - side) / 2, (s.h - side) / 2, side, side, cx - r, cy - r, 2 * r, 2 * r);
  ctx.restore();
}

// The share picture as a PNG blob.
export function drawCard(you, them, name, score) {
  const W = 1200, H = 630;
  const canvas = document.createElement("canvas");
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext("2d");
  const bg = ctx.createLinearGradient(0, 0, W, H);
  bg.addColorStop(0, "#312e81");
  bg.addColorStop(0.55, "#4338ca");
  bg.addColorStop(1, "#6d28d9");
  ctx.fillStyle = bg;
  ctx.fillRect(0, 0, W, H);
  ctx.fillStyle = "rgba(255,255,255,.06)";
  ctx.beginPath(); ctx.arc(1090, 70, 220, 0, Math.PI * 2); ctx.fill();
  ctx.beginPath(); ctx.arc(90, 600, 180, 0, Math.PI * 2); ctx.fill();

  const family = getComputedStyle(document.body).fontFamily || "sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "alphabetic";
  ctx.fillStyle = "rgba(255,255,255,.85)";
  ctx.font = "600 34px " + family;
  ctx.fillText("I look like", W / 2, 82);
  ctx.fillStyle = "#fff";
  fitFont(ctx, name, "800", 68, W - 160);
  ctx.fillText(name, W / 2, 156);

  const cy = 350, r = 132;
  circleImage(ctx, you, 380, cy, r);
  circleImage(ctx, them, 820, cy, r);

  ctx.beginPath();
  ctx.arc(W / 2, cy, 74, 0, Math.PI * 2);
  ctx.fillStyle = "#fff";
  ctx.shadowColor = "rgba(0,0,0,.25)";
  ctx.shadowBlur = 24;
  ctx.fill();
  ctx.shadowBlur = 0;
  ctx.fillStyle = "#3730a3";
  ctx.font = "800 50px " + family;
  ctx.fillText(score + "%", W / 2, cy + 12);
  ctx.font = "700 15px " + family;
  ctx.fillText("RESEMBLANCE", W / 2, cy + 38);

  ctx.fillStyle = "#fff";
  ctx.font = "700 30px " + family;
  ctx.fillText("You", 380, cy + r + 58);
  fitFont(ctx, name, "700", 30, 330);
  ctx.fillText(name, 820, cy + r + 58);

  ctx.fillStyle = "rgba(255,255,255,.8)";
  ctx.font = "600 24px " + family;
  ctx.fillText("LooksLike · " + location.host, W / 2, H - 28);
  return new Promise((resolve) => { canvas.toBlob(resolve, "image/png"); });
}

export function initShare(root, hero) {
  const section = $(root, "[data-share-section]");
  if (!section) return;
  const you = $(hero, "[data-you-img]");
  const them = $(hero, "[data-them-img]");
  const name = hero.dataset.topName;
  const score = hero.dataset.topScore;
  const link = hero.dataset.celebrityUrl;
  const status = $(section, "[data-share-status]");
  const text = "I look like " + name + " (" + score + "% resemblance) on LooksLike.";

  $(section, "[data-copy-link]").addEventListener("click", () => {
    const done = () => { status.textContent = "Link copied: " + link; };
    const fail = () => { status.textContent = "Copy this link: " + link; };
    if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(link).then(done, fail);
    else fail();
  });

  Promise.all([whenLoaded(you), whenLoaded(them)])
    .then(() => drawCard(you, them, name, score))
    .then((blob) => {
      if (!blob) return;
      const file = new File([blob], hero.dataset.shareFile || "lookslike.png", { type: "image/png" });
      const url = URL.createObjectURL(blob);
      $(section, "[data-share-preview]").src = url;
      const download = $(section, "[data-download]");
      download.href = url;
      download.download = file.name;
      const shareButton = $(section, "[data-share]");
      const data = { files: [file], title: "My celebrity look-alike", text: text + " " + link };
      if (navigator.canShare && navigator.share && navigator.canShare({ files: [file] })) {
        shareButton.hidden = false;
        shareButton.addEventListener("click", () => {
          navigator.share(data).catch((err) => {
            if (err && err.name !== "AbortError") status.textContent = "Sharing did not work here. Download the image instead.";
          });
        });
      }
      section.hidden = false;
    })
    .catch(() => { /* no share picture: the section stays hidden */ });
}
