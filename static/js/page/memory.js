// The photo last sent for matching, kept in this page's memory only (never stored, never in the
// history) so that the results page can outline its faces for the face picker and re-send it.
// An upload keeps {blob, url}; private mode keeps its own record (static/js/private/main.js).

let last = null;

export function lastPhoto() { return last; }

export function keepPhoto(photo) {
  if (last && last.url && last !== photo) URL.revokeObjectURL(last.url);
  last = photo;
}
