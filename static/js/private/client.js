// The one request private mode makes: the faces' embeddings (and nothing of the photos) to the page's own
// route, which answers with the results page (or the upload page with its error), as the upload does.
// It goes out as the page's other requests do (static/js/page/transport.js): the same time limit, the
// same messages when the connection fails.

import { send } from "../page/transport.js";

// POST as JSON one photo's `embedding` (or several photos' `embeddings`), `embedding_model`, and the
// form's other fields that are filled in (top_k, the filters): resolves {status, text}.
export function postEmbeddings(url, embeddings, modelId, fields) {
  const body = embeddings.length === 1 ? { embedding: Array.from(embeddings[0]) }
    : { embeddings: embeddings.map((e) => Array.from(e)) };
  body.embedding_model = modelId;
  for (const [key, value] of fields || []) {
    const text = value === undefined || value === null ? "" : String(value).trim();
    if (text !== "" && !(key in body)) body[key] = text;
  }
  return send(url, JSON.stringify(body), null, { "Content-Type": "application/json", Accept: "text/html" });
}
