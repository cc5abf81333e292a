// Private mode's assets: the networks and ONNX Runtime Web's WebAssembly, downloaded once (Cache
// Storage keeps them for the next visits) and each checked against the sha256 the server rendered
// into the page before it is used. ONNX Runtime Web's module is imported from its content-named URL,
// which the page preloads with Subresource Integrity, and is handed the checked WebAssembly itself.
// It runs on as many threads as the server allows (PRIVATE_THREADS) where the page is cross-origin
// isolated, else on one; and on WebGPU instead where the server allows it (PRIVATE_WEBGPU) and the
// browser offers an adapter, with ONNX Runtime's JSEP build (its own module and WebAssembly).

const CACHE = "lookslike-private";
const FILES = ["wasm", "pnet", "rnet", "onet", "facenet"];
const AUTO_THREADS = 4; // "auto": the cores, at most 4, as ONNX Runtime's own default caps them
const NAMES = { wasm: "ONNX Runtime", webgpu_wasm: "ONNX Runtime", pnet: "face finder (1 of 3)",
                rnet: "face finder (2 of 3)", onet: "face finder (3 of 3)", facenet: "face measurer" };
// The smallest WebAssembly module that uses a SIMD instruction: a function returning v128.const 0.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0,
                                   253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11]);

export class AssetError extends Error {
  constructor(message) {
    super(message);
    this.userMessage = message;
  }
}

// Why this browser cannot run private mode ("" when it can).
export function unsupported() {
  if (typeof WebAssembly !== "object" || !WebAssembly.validate(SIMD_PROBE)) {
    return "your browser cannot run the face networks itself (it lacks WebAssembly SIMD)";
  }
  if (!window.isSecureContext || !crypto.subtle) return "it needs a secure (https) connection to this site";
  if (typeof OffscreenCanvas !== "function") return "your browser lacks OffscreenCanvas";
  return "";
}

// Threads for ONNX Runtime: they need SharedArrayBuffer, which browsers give only to cross-origin
// isolated pages; elsewhere (no isolation headers, or a proxy that drops them) one thread.
export function threadCount(wanted) {
  if (!self.crossOriginIsolated || !wanted) return 1;
  const cores = navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.min(wanted === "auto" ? AUTO_THREADS : wanted, cores));
}

// The browser's WebGPU adapter, or null where it offers none.
async function gpuAdapter() {
  try {
    return navigator.gpu ? await navigator.gpu.requestAdapter() : null;
  } catch (err) {
    return null;
  }
}

// Preload a module with its integrity, as the page does for the WebAssembly build's: a later import
// of that URL then gets this checked copy, or fails when the check did.
function preload(asset) {
  return new Promise((resolve, reject) => {
    const link = Object.assign(document.createElement("link"),
      { rel: "modulepreload", href: asset.url, integrity: asset.integrity });
    link.addEventListener("load", resolve);
    link.addEventListener("error", reject);
    document.head.append(link);
  });
}

async function sha256(buffer) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", buffer));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function openCache() {
  try {
    return self.caches ? await caches.open(CACHE) : null;
  } catch (err) {
    return null; // storage blocked (private windows of some browsers): the HTTP cache still helps
  }
}

async function download(url, size, onBytes) {
  let resp;
  try {
    resp = await fetch(url, { credentials: "same-origin" });
  } catch (err) {
    throw new AssetError("the face networks could not be downloaded (the connection failed)");
  }
  if (!resp.ok) throw new AssetError(`the face networks could not be downloaded (error ${resp.status})`);
  const reader = resp.body.getReader();
  let body = new Uint8Array(size), got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.length > body.length) { // larger than announced: the checksum will say so
      const bigger = new Uint8Array(Math.max(body.length * 2, got + value.length));
      bigger.set(body.subarray(0, got));
      body = bigger;
    }
    body.set(value, got);
    got += value.length;
    onBytes(value.length);
  }
  return body.buffer.slice(0, got);
}

// One asset's bytes, checked: from Cache Storage when it holds an intact copy, else downloaded.
async function fetchChecked(cache, role, asset, onBytes) {
  let body = cache ? await cache.match(asset.url).then((r) => (r ? r.arrayBuffer() : null)) : null;
  if (body && (await sha256(body)) === asset.sha256) {
    onBytes(asset.bytes);
    return body;
  }
  body = await download(asset.url, asset.bytes, onBytes);
  if ((await sha256(body)) !== asset.sha256) {
    throw new AssetError(`the ${NAMES[role]} file did not arrive intact (its checksum does not match)`);
  }
  if (cache) {
    await cache.put(asset.url, new Response(body, { headers: { "Content-Type": "application/octet-stream" } }))
      .catch(() => {}); // out of quota: next visit downloads again
  }
  return body;
}

// Drop cached files the page no longer lists (earlier versions of the networks).
async function prune(cache, assets, files) {
  const wanted = new Set(files.map((role) => new URL(assets[role].url, location.href).href));
  for (const request of await cache.keys()) {
    if (!wanted.has(request.url)) await cache.delete(request);
  }
}

// Download and check everything, then start ONNX Runtime: resolves to {run, backend, threads}, where
// run(name, data, dims) resolves to the outputs by name.
export async function loadNetworks(manifest, onProgress) {
  const assets = manifest.assets;
  const adapter = assets.webgpu_wasm ? await gpuAdapter() : null;
  const wasm = adapter ? "webgpu_wasm" : "wasm", module = adapter ? assets.webgpu_module : assets.module;
  const files = FILES.map((role) => (role === "wasm" ? wasm : role));
  const total = files.reduce((sum, role) => sum + assets[role].bytes, 0);
  let done = 0;
  const cache = await openCache();
  const bodies = {};
  for (const role of files) {
    bodies[role] = await fetchChecked(cache, role, assets[role], (n) => {
      done += n;
      onProgress(Math.min(done, total), total);
    });
  }
  if (cache) await prune(cache, assets, files).catch(() => {});
  let ort;
  try {
    if (adapter) await preload(module);
    ort = await import(module.url);
  } catch (err) {
    throw new AssetError("ONNX Runtime could not be loaded (its integrity check failed or it was blocked)");
  }
  ort.env.wasm.wasmBinary = bodies[wasm];
  ort.env.wasm.numThreads = threadCount(manifest.threads);
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  if (adapter) ort.env.webgpu.adapter = adapter;
  const sessions = {};
  try {
    for (const name of ["pnet", "rnet", "onet", "facenet"]) {
      sessions[name] = await ort.InferenceSession.create(new Uint8Array(bodies[name]),
        { executionProviders: adapter ? ["webgpu", "wasm"] : ["wasm"], graphOptimizationLevel: "all" });
    }
  } catch (err) {
    throw new AssetError(`the face networks could not be started (${String(err && err.message || err).slice(0, 120)})`);
  }
  const run = async (name, data, dims) => {
    const out = await sessions[name].run({ input: new ort.Tensor("float32", data, dims) });
    const result = {};
    for (const key of Object.keys(out)) result[key] = { data: out[key].data, dims: out[key].dims };
    return result;
  };
  // A first run of each network while the visitor still chooses a photo: the first call of a session
  // sets up its kernels, which would otherwise add seconds to the first match.
  for (const [name, side] of [["pnet", 12], ["rnet", 24], ["onet", 48], ["facenet", 160]]) {
    await run(name, new Float32Array(side * side * 3), [1, side, side, 3]);
  }
  return { run, backend: adapter ? "webgpu" : "wasm", threads: ort.env.wasm.numThreads };
}
