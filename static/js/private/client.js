// The one request private mode makes: the face's embedding (and nothing of the photo) to the page's own
// route, which answers with the results page (or the upload page with its error), as the upload does.
// It goes out as the page's other requests do (static/js/page/transport.js): the same time limit, the
// same messages when the connection fails.

import { send } from "../page/transport.js";

// POST {embedding, embedding_model, top_k} as JSON: resolves {status, text}.
export function postEmbedding(url, embedding, modelId, topK) {
  const body = { embedding: Array.from(embedding), embedding_model: modelId };
  if (topK !== undefined && topK !== null && String(topK).trim() !== "") body.top_k = String(topK).trim();
  return send(url, JSON.stringify(body), null, { "Content-Type": "application/json", Accept: "text/html" });
}
