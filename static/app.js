// LooksLike front end. Progressive enhancement only: every page works without this script.
//
// With it, the upload forms: check the photo's type and size before sending, shrink it in the
// browser to the size the server works at (canvas, EXIF orientation respected), show upload then
// matching progress, and show errors inline with the chosen photo kept. The results page gets a
// face picker (the photo stays in this page's memory; the server keeps nothing) and a share
// picture drawn on a canvas. No inline scripts or style attributes are needed (strict CSP).
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  var READABLE = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"];
  var MAX_DECODE_BYTES = 60 * 1024 * 1024; // larger files are refused before any decoding
  var JPEG_QUALITY = 0.9;
  var TIMEOUT_MS = 120000;

  var views = new Map(); // history entries of this page: id -> {node, title}
  var currentView = 0;
  var viewSeq = 0;
  var lastPhoto = null; // {blob, url} of the photo last sent for matching (kept for the face picker)

  function UserError(message) { this.message = message; }

  function mb(bytes) {
    var value = bytes / (1024 * 1024);
    return (value >= 10 ? Math.round(value) : Math.round(value * 10) / 10) + " MB";
  }

  function $(root, selector) { return root.querySelector(selector); }
  function $$(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }

  // ---- errors and progress -------------------------------------------------------------------

  function showError(box, message) {
    if (!box) return;
    $(box, "[data-error-message]").textContent = message;
    box.hidden = false;
    if (box.getBoundingClientRect().top < 0) box.scrollIntoView({ block: "center" });
  }

  function hideError(box) {
    if (box) { box.hidden = true; $(box, "[data-error-message]").textContent = ""; }
  }

  function Progress(root) {
    this.bar = $(root, "[data-progress]");
    this.fill = $(root, "[data-progress-fill]");
    this.label = $(root, "[data-progress-label]");
  }
  Progress.prototype.show = function (text, fraction) {
    if (!this.bar) return;
    this.bar.hidden = false;
    var known = typeof fraction === "number";
    this.bar.classList.toggle("indeterminate", !known);
    this.fill.style.width = known ? Math.round(fraction * 100) + "%" : "";
    if (this.label.textContent !== text) this.label.textContent = text;
  };
  Progress.prototype.hide = function () {
    if (!this.bar) return;
    this.bar.hidden = true;
    this.label.textContent = "";
  };

  // ---- photos --------------------------------------------------------------------------------

  // A quick look at a chosen file: an error message, or null when it may be a photo.
  function checkFile(file) {
    var type = (file.type || "").toLowerCase();
    if (type && type.indexOf("image/") !== 0) {
      return "“" + file.name + "” is not a photo. Please choose a JPEG, PNG or WebP image.";
    }
    if (file.size === 0) return "“" + file.name + "” is empty. Please choose another photo.";
    if (file.size > MAX_DECODE_BYTES) {
      return "This file is " + mb(file.size) + "; please choose a photo under " + mb(MAX_DECODE_BYTES) + ".";
    }
    return null;
  }

  // Decode a file upright (EXIF orientation applied): an ImageBitmap or an <img>, or null.
  function decode(file) {
    function viaImg() {
      return new Promise(function (resolve) {
        var img = new Image();
        var url = URL.createObjectURL(file);
        img.onload = function () { resolve(img); URL.revokeObjectURL(url); };
        img.onerror = function () { resolve(null); URL.revokeObjectURL(url); };
        img.src = url;
      });
    }
    if (!window.createImageBitmap) return viaImg();
    return createImageBitmap(file, { imageOrientation: "from-image" })
      .catch(function () { return createImageBitmap(file); })
      .catch(viaImg);
  }

  function sizeOf(image) {
    return { w: image.naturalWidth || image.width, h: image.naturalHeight || image.height };
  }

  // The photo to send: the file itself when it is already small and readable, else a JPEG
  // re-drawn at most maxSide pixels on its longer side. Throws UserError when it cannot be sent.
  function preparePhoto(file, maxBytes, maxSide) {
    var problem = checkFile(file);
    if (problem) return Promise.reject(new UserError(problem));
    var type = (file.type || "").toLowerCase();
    return decode(file).then(function (image) {
      if (!image) {
        if (file.size > maxBytes) {
          throw new UserError("This photo is " + mb(file.size) + ", over the " + mb(maxBytes) +
            " limit, and your browser cannot shrink it. Please choose a smaller photo.");
        }
        return file; // let the server try a format this browser cannot read
      }
      var size = sizeOf(image);
      var scale = Math.min(1, maxSide / Math.max(size.w, size.h));
      if (scale === 1 && file.size <= maxBytes && READABLE.indexOf(type) >= 0) {
        if (image.close) image.close();
        return file;
      }
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(size.w * scale));
      canvas.height = Math.max(1, Math.round(size.h * scale));
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff"; // transparent pixels become white, as the server would make them
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = "high";
      ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      if (image.close) image.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (!blob) { reject(new UserError("Your browser could not prepare this photo. Please try another one.")); return; }
          if (blob.size > maxBytes) { reject(new UserError("This photo is too large to send. Please choose a smaller one.")); return; }
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg" }));
        }, "image/jpeg", JPEG_QUALITY);
      });
    });
  }

  function setInputFile(input, file) {
    try {
      var dt = new DataTransfer();
      dt.items.add(file);
      input.files = dt.files;
      return true;
    } catch (err) {
      return false;
    }
  }

  // ---- sending -------------------------------------------------------------------------------

  // POST a FormData with upload progress: resolves {status, text}; rejects with a UserError.
  function send(url, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.timeout = TIMEOUT_MS;
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) onProgress("upload", e.loaded / e.total);
      };
      xhr.upload.onload = function () { onProgress("process"); };
      xhr.onload = function () { resolve({ status: xhr.status, text: xhr.responseText }); };
      xhr.onerror = function () {
        reject(new UserError("The connection failed. Please check your internet connection and try again."));
      };
      xhr.ontimeout = function () {
        reject(new UserError("The server took too long to answer. Please try again."));
      };
      xhr.send(body);
    });
  }

  // The error message of a page the server answered with (its inline error box), or a generic one.
  function errorFrom(response) {
    var doc = new DOMParser().parseFromString(response.text || "", "text/html");
    var node = doc.querySelector("[data-error-message]");
    var message = node && node.textContent.trim();
    return message || "Something went wrong (error " + response.status + "). Please try again.";
  }

  // Show the page the server answered with in place of this one, as a new history entry.
  function showPage(html, url) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var next = doc.getElementById("main");
    var current = document.getElementById("main");
    if (!next || !current) throw new UserError("The server sent an unexpected answer. Please try again.");
    next = document.adoptNode(next);
    current.replaceWith(next);
    document.title = doc.title;
    viewSeq += 1;
    currentView = viewSeq;
    views.set(currentView, { node: next, title: doc.title });
    history.pushState({ lookslike: currentView }, "", url);
    window.scrollTo(0, 0);
    init(next);
    var heading = next.querySelector("h1");
    if (heading) {
      if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }

  window.addEventListener("popstate", function (e) {
    var id = e.state && e.state.lookslike;
    var view = views.get(id);
    if (!view) { location.reload(); return; }
    var current = document.getElementById("main");
    $$(current, "[data-camera-cancel]").forEach(function (b) { b.click(); });
    current.replaceWith(view.node);
    document.title = view.title;
    currentView = id;
    $$(view.node, "form[data-enhance]").forEach(function (form) { form.resetBusy && form.resetBusy(); });
  });

  // ---- upload forms --------------------------------------------------------------------------

  function enhanceForm(form) {
    if (form.dataset.enhanced) return;
    form.dataset.enhanced = "1";
    form.noValidate = true; // our inline messages replace the browser's bubbles
    var errorBox = $(form, "[data-error]");
    var submit = $(form, "[data-submit]");
    var progress = new Progress(form);
    var maxBytes = parseInt(form.dataset.maxBytes, 10) || 10 * 1024 * 1024;
    var maxSide = parseInt(form.dataset.maxSide, 10) || 1024;
    var isMatch = !!form.querySelector("input[name=top_k]");
    var busy = false;

    $$(form, "[data-dropzone]").forEach(function (zone) { initSlot(zone, errorBox); });

    function setBusy(on) {
      busy = on;
      submit.disabled = on;
      form.setAttribute("aria-busy", on ? "true" : "false");
      $$(form, "input, button[type=button]").forEach(function (el) { el.disabled = on; });
      if (!on) progress.hide();
    }
    form.resetBusy = function () { setBusy(false); };

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      hideError(errorBox);
      $$(form, "[data-camera-cancel]").forEach(function (b) { if (!b.closest("[hidden]")) b.click(); });
      var inputs = $$(form, "input[type=file]");
      for (var i = 0; i < inputs.length; i++) {
        if (!inputs[i].files || !inputs[i].files.length) {
          var label = form.querySelector("label[for='" + inputs[i].id + "'] [data-choose-text]");
          showError(errorBox, inputs.length > 1
            ? "Please choose both photos first (" + (label ? label.textContent.toLowerCase() : inputs[i].name) + " is missing)."
            : "Please choose a photo first.");
          inputs[i].focus();
          return;
        }
      }
      var fields = [];
      new FormData(form).forEach(function (value, key) {
        if (typeof value === "string") fields.push([key, value]);
      });
      setBusy(true);
      // Private mode (static/js/private/main.js): the face is found and measured here; only its embedding is sent.
      var privately = isMatch && window.LooksLikePrivate && window.LooksLikePrivate.wanted(form);
      progress.show(privately ? "Finding your face on this device…" : "Preparing your photo…");
      (privately ? window.LooksLikePrivate.match(inputs[0].files[0], fields, progress) :
      Promise.all(inputs.map(function (input) { return preparePhoto(input.files[0], maxBytes, maxSide); }))
        .then(function (photos) {
          var body = new FormData();
          photos.forEach(function (photo, k) { body.append(inputs[k].name, photo, photo.name || "photo.jpg"); });
          fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
          if (isMatch) {
            if (lastPhoto && lastPhoto.url) URL.revokeObjectURL(lastPhoto.url);
            lastPhoto = { blob: photos[0], url: URL.createObjectURL(photos[0]) };
          }
          return send(form.action, body, function (stage, fraction) {
            if (stage === "upload") progress.show("Uploading your photo… " + Math.round(fraction * 100) + "%", fraction * 0.999);
            else progress.show(form.dataset.busyText || "Working…");
          });
        }))
        .then(function (response) {
          if (response.status >= 200 && response.status < 300) {
            if (response.photo) {
              if (lastPhoto && lastPhoto.url) URL.revokeObjectURL(lastPhoto.url);
              lastPhoto = response.photo;
            }
            setBusy(false);
            showPage(response.text, form.action);
          } else if (response.status === 0) {
            throw new UserError("The connection failed. Please check your internet connection and try again.");
          } else {
            setBusy(false);
            showError(errorBox, errorFrom(response));
          }
        })
        .catch(function (err) {
          setBusy(false);
          showError(errorBox, err instanceof UserError ? err.message : err && err.userMessage ? err.userMessage :
            "Something went wrong: " + err + ". Please try again.");
        });
    });
  }

  // One photo slot: preview, drag and drop, camera.
  function initSlot(zone, errorBox) {
    var input = $(zone, "input[type=file]");
    var previewBox = $(zone, "[data-preview-box]");
    var preview = $(zone, "[data-preview]");
    var empty = $(zone, "[data-empty]");
    var chooseText = $(zone, "[data-choose-text]");
    var title = $(zone, "[data-drop-title]");
    var fileName = $(zone, "[data-file-name]");
    var initialText = chooseText.textContent;
    var url = null;

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
      preview.onload = function () { previewBox.hidden = false; empty.hidden = true; };
      preview.onerror = function () { // a format the browser cannot show: name it instead
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
      var file = input.files && input.files[0];
      if (!file) { show(null); return; }
      var problem = checkFile(file);
      if (problem) {
        input.value = "";
        show(null);
        showError(errorBox, problem);
        return;
      }
      show(file);
    }
    input.addEventListener("change", chosen);

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      var file = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
      if (file && setInputFile(input, file)) chosen();
    });

    initCamera(zone, input, chosen, errorBox);
  }

  function cameraMessage(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") {
      return "Camera access is blocked. Allow the camera in your browser’s settings, or choose a photo instead.";
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      return "No camera was found on this device. Please choose a photo instead.";
    }
    if (name === "NotReadableError" || name === "AbortError") {
      return "The camera is in use by another app. Close it and try again, or choose a photo instead.";
    }
    return "The camera is not available" + (err && err.message ? " (" + err.message + ")" : "") + ". Please choose a photo instead.";
  }

  function initCamera(zone, input, chosen, errorBox) {
    var camera = $(zone, "[data-camera]");
    if (!camera) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.isSecureContext) {
      camera.hidden = true;
      return;
    }
    var start = $(camera, "[data-camera-start]");
    var startText = $(camera, "[data-camera-start-text]");
    var view = $(camera, "[data-camera-view]");
    var video = $(camera, "[data-camera-video]");
    var stream = null;

    function stop() {
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      video.srcObject = null;
      view.hidden = true;
      start.hidden = false;
    }

    start.addEventListener("click", function () {
      hideError(errorBox);
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 }, height: { ideal: 960 } }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          view.hidden = false;
          start.hidden = true;
          $(camera, "[data-camera-snap]").focus();
        })
        .catch(function (err) { showError(errorBox, cameraMessage(err)); });
    });

    $(camera, "[data-camera-cancel]").addEventListener("click", function () { stop(); start.focus(); });

    $(camera, "[data-camera-snap]").addEventListener("click", function () {
      if (!stream || !video.videoWidth) return;
      var canvas = document.createElement("canvas");
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var ctx = canvas.getContext("2d");
      ctx.translate(canvas.width, 0); // keep the photo as mirrored as the preview was
      ctx.scale(-1, 1);
      ctx.drawImage(video, 0, 0);
      canvas.toBlob(function (blob) {
        stop();
        if (!blob) { showError(errorBox, "The camera picture could not be taken. Please try again."); return; }
        if (setInputFile(input, new File([blob], "camera.jpg", { type: "image/jpeg" }))) chosen();
        startText.textContent = "Retake";
        start.focus();
      }, "image/jpeg", JPEG_QUALITY);
    });
  }

  // ---- results page --------------------------------------------------------------------------

  function initResults(root) {
    var hero = $(root, "[data-results]");
    if (!hero) return;
    if (hero.hasAttribute("data-private")) showPrivateFace(root, hero);
    initPicker(root, hero);
    initShare(root, hero);
  }

  // A private-mode results page: the face and the face count come from this page's memory, not the server.
  function showPrivateFace(root, hero) {
    if (!lastPhoto || !lastPhoto.private) return;
    $(hero, "[data-you-img]").src = lastPhoto.faceUrl;
    var section = $(root, "[data-picker-section]");
    if (!section || lastPhoto.boxes.length < 2) return;
    $(section, "[data-faces-count]").textContent = String(lastPhoto.boxes.length);
    if (lastPhoto.picked) $(section, "[data-picker-said]").textContent = "We matched the face you picked (outlined).";
    section.hidden = false;
  }

  function initPicker(root, hero) {
    var section = $(root, "[data-picker-section]");
    if (!section || !lastPhoto) return; // without the photo in memory, the text alone explains
    var boxes;
    try { boxes = lastPhoto.private ? lastPhoto.boxes : JSON.parse(hero.dataset.boxes || "[]"); } catch (err) { return; }
    var chosen = lastPhoto.private ? lastPhoto.faceIndex : parseInt(hero.dataset.faceIndex, 10);
    var width = lastPhoto.private ? lastPhoto.width : parseFloat(hero.dataset.photoWidth);
    var height = lastPhoto.private ? lastPhoto.height : parseFloat(hero.dataset.photoHeight);
    if (boxes.length < 2 || !(width > 0) || !(height > 0)) return;
    var stage = $(section, "[data-picker-stage]");
    var errorBox = $(section, "[data-error]");
    var progress = new Progress(section);
    var photo = lastPhoto;

    var img = document.createElement("img");
    img.alt = "Your photo, with the " + boxes.length + " faces we found outlined";
    img.src = photo.url;
    stage.appendChild(img);
    var buttons = boxes.map(function (box, i) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "face-box";
      button.style.left = (100 * box[0] / width) + "%";
      button.style.top = (100 * box[1] / height) + "%";
      button.style.width = (100 * box[2] / width) + "%";
      button.style.height = (100 * box[3] / height) + "%";
      var matched = i === chosen;
      button.setAttribute("aria-pressed", matched ? "true" : "false");
      var tag = document.createElement("span");
      tag.className = "face-tag";
      tag.textContent = matched ? "Face " + (i + 1) + " · matched" : "Face " + (i + 1);
      var more = document.createElement("span");
      more.className = "visually-hidden";
      more.textContent = matched ? " of " + boxes.length : " of " + boxes.length + ": match this face instead";
      button.appendChild(tag);
      button.appendChild(more);
      button.addEventListener("click", function () { if (i !== chosen) pick(i); });
      stage.appendChild(button);
      return button;
    });
    stage.hidden = false;
    $(section, "[data-picker-hint]").hidden = false;

    function pick(index) {
      hideError(errorBox);
      buttons.forEach(function (b) { b.disabled = true; });
      progress.show("Matching face " + (index + 1) + "…");
      var sending;
      if (photo.private) {
        sending = photo.rematch(index, hero.dataset.topK, progress);
      } else {
        var body = new FormData();
        body.append("photo", photo.blob, photo.blob.name || "photo.jpg");
        body.append("top_k", hero.dataset.topK);
        body.append("face", String(index));
        var filters = JSON.parse(hero.dataset.filters || "{}");  // the same search, another face
        Object.keys(filters).forEach(function (key) { body.append(key, String(filters[key])); });
        sending = send(hero.dataset.matchUrl, body, function (stage, fraction) {
          if (stage === "upload") progress.show("Sending your photo… " + Math.round(fraction * 100) + "%", fraction * 0.999);
          else progress.show("Matching face " + (index + 1) + "…");
        });
      }
      sending.then(function (response) {
        if (response.status >= 200 && response.status < 300) {
          showPage(response.text, hero.dataset.matchUrl);
          return;
        }
        throw new UserError(errorFrom(response));
      }).catch(function (err) {
        progress.hide();
        buttons.forEach(function (b) { b.disabled = false; });
        showError(errorBox, err instanceof UserError ? err.message : err && err.userMessage ? err.userMessage : String(err));
      });
    }
  }

  function whenLoaded(img) {
    if (img.complete && img.naturalWidth) return Promise.resolve(img);
    return new Promise(function (resolve, reject) {
      img.addEventListener("load", function () { resolve(img); }, { once: true });
      img.addEventListener("error", reject, { once: true });
    });
  }

  // Largest font size (px, at most `size`) at which `text` fits in `maxWidth`.
  function fitFont(ctx, text, weight, size, maxWidth) {
    var family = getComputedStyle(document.body).fontFamily || "sans-serif";
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
    var s = sizeOf(img);
    var side = Math.min(s.w, s.h);
    ctx.drawImage(img, (s.w - side) / 2, (s.h - side) / 2, side, side, cx - r, cy - r, 2 * r, 2 * r);
    ctx.restore();
  }

  // The share picture, 1200 x 630 (the Open Graph size): both faces, the name and the score.
  function drawCard(you, them, name, score) {
    var W = 1200, H = 630;
    var canvas = document.createElement("canvas");
    canvas.width = W;
    canvas.height = H;
    var ctx = canvas.getContext("2d");
    var bg = ctx.createLinearGradient(0, 0, W, H);
    bg.addColorStop(0, "#312e81");
    bg.addColorStop(0.55, "#4338ca");
    bg.addColorStop(1, "#6d28d9");
    ctx.fillStyle = bg;
    ctx.fillRect(0, 0, W, H);
    ctx.fillStyle = "rgba(255,255,255,.06)";
    ctx.beginPath(); ctx.arc(1090, 70, 220, 0, Math.PI * 2); ctx.fill();
    ctx.beginPath(); ctx.arc(90, 600, 180, 0, Math.PI * 2); ctx.fill();

    var family = getComputedStyle(document.body).fontFamily || "sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    ctx.fillStyle = "rgba(255,255,255,.85)";
    ctx.font = "600 34px " + family;
    ctx.fillText("I look like", W / 2, 82);
    ctx.fillStyle = "#fff";
    fitFont(ctx, name, "800", 68, W - 160);
    ctx.fillText(name, W / 2, 156);

    var cy = 350, r = 132;
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
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/png"); });
  }

  function initShare(root, hero) {
    var section = $(root, "[data-share-section]");
    if (!section) return;
    var you = $(hero, "[data-you-img]");
    var them = $(hero, "[data-them-img]");
    var name = hero.dataset.topName;
    var score = hero.dataset.topScore;
    var link = hero.dataset.celebrityUrl;
    var status = $(section, "[data-share-status]");
    var text = "I look like " + name + " (" + score + "% resemblance) on LooksLike.";

    $(section, "[data-copy-link]").addEventListener("click", function () {
      var done = function () { status.textContent = "Link copied: " + link; };
      var fail = function () { status.textContent = "Copy this link: " + link; };
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(link).then(done, fail);
      else fail();
    });

    Promise.all([whenLoaded(you), whenLoaded(them)])
      .then(function () { return drawCard(you, them, name, score); })
      .then(function (blob) {
        if (!blob) return;
        var file = new File([blob], hero.dataset.shareFile || "lookslike.png", { type: "image/png" });
        var url = URL.createObjectURL(blob);
        $(section, "[data-share-preview]").src = url;
        var download = $(section, "[data-download]");
        download.href = url;
        download.download = file.name;
        var shareButton = $(section, "[data-share]");
        var data = { files: [file], title: "My celebrity look-alike", text: text + " " + link };
        if (navigator.canShare && navigator.share && navigator.canShare({ files: [file] })) {
          shareButton.hidden = false;
          shareButton.addEventListener("click", function () {
            navigator.share(data).catch(function (err) {
              if (err && err.name !== "AbortError") status.textContent = "Sharing did not work here. Download the image instead.";
            });
          });
        }
        section.hidden = false;
      })
      .catch(function () { /* no share picture: the section stays hidden */ });
  }

  // ---- start ---------------------------------------------------------------------------------

  function init(root) {
    $$(root, "form[data-enhance]").forEach(enhanceForm);
    initResults(root);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.getElementById("main");
    if (!main) return;
    views.set(0, { node: main, title: document.title });
    history.replaceState({ lookslike: 0 }, "");
    init(main);
  });

  window.addEventListener("pageshow", function (e) {
    if (e.persisted) $$(document, "form[data-enhance]").forEach(function (f) { f.resetBusy && f.resetBusy(); });
  });
})();
