// Progressive enhancement of the upload form: drag and drop, preview, webcam capture.
// The photo goes only to this site's /match endpoint, as the plain form would send it.
(function () {
  document.documentElement.classList.add("js");
  const input = document.getElementById("photo");
  const zone = document.getElementById("dropzone");
  const preview = document.getElementById("preview");
  const video = document.getElementById("webcam");
  const start = document.getElementById("webcam-start");
  const snap = document.getElementById("webcam-snap");
  if (!input || !zone) return;

  function setFile(file) {
    const dt = new DataTransfer();
    dt.items.add(file);
    input.files = dt.files;
    showPreview();
  }
  function showPreview() {
    const file = input.files && input.files[0];
    if (!file) return;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
  }
  input.addEventListener("change", showPreview);
  ["dragenter", "dragover"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => zone.addEventListener(t, (e) => {
    e.preventDefault(); zone.classList.remove("over");
  }));
  zone.addEventListener("drop", (e) => {
    const file = e.dataTransfer.files && e.dataTransfer.files[0];
    if (file) setFile(file);
  });

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { start.hidden = true; return; }
  let stream = null;
  start.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
      video.srcObject = stream; video.hidden = false; snap.hidden = false;
    } catch (err) { alert("The webcam is not available: " + err.message); }
  });
  snap.addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      setFile(new File([blob], "webcam.jpg", { type: "image/jpeg" }));
      stream.getTracks().forEach((t) => t.stop());
      video.hidden = true; snap.hidden = true;
    }, "image/jpeg", 0.92);
  });
})();
