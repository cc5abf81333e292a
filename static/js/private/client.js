// The one request private mode makes: the face's embedding (and nothing of the photo) to the page's own
// route, which answers with the results page (or the upload page with its error), as the upload does.

export class ClientError extends Error {
  constructor(message) {
    super(message);
    this.userMessage = message;
  }
}

// POST {embedding, embedding_model, top_k} as JSON: resolves {status, text}.
export async function postEmbedding(url, embedding, modelId, topK) {
  const body = { embedding: Array.from(embedding), embedding_model: modelId };
  if (topK !== undefined && topK !== null && String(topK).trim() !== "") body.top_k = String(topK).trim();
  let resp;
  try {
    resp = await fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: { "Content-Type": "application/json", Accept: "text/html" }, body: JSON.stringify(body),
    });
  } catch (err) {
    throw new ClientError("The connection failed. Please check your internet connection and try again.");
  }
  return { status: resp.status, text: await resp.text() };
}
