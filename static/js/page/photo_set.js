// The photos of one slot of an upload form: at most `most` (several photos of one person are matched
// together, MATCH_PHOTOS_MAX on the server), each checked when it comes (photos.js checkFile). A slot
// of one photo replaces it with each new one; a slot of several adds each new one while there is room.

import { checkFile } from "./photos.js";

export class PhotoSet {
  constructor(most) {
    this.most = Math.max(1, most || 1);
    this.files = [];
  }

  get count() { return this.files.length; }
  get full() { return this.files.length >= this.most; }

  // The usable files of `files` (at most `room`), and what to tell the visitor of the others (or null).
  usable(files, room) {
    const ok = [];
    let problem = null;
    for (const file of Array.from(files || [])) {
      const wrong = checkFile(file);
      if (wrong) problem = problem || wrong;
      else ok.push(file);
    }
    if (ok.length > room) {
      problem = problem || (room > 0
        ? `At most ${this.most} photos are matched together, so only the first ${room === 1 ? "one was" : room + " were"} added.`
        : `At most ${this.most} photos are matched together: remove one to add another.`);
    }
    return { ok: ok.slice(0, room), problem };
  }

  // Photos chosen in place of these (the slot's own file picker): the problem to show, or null. When none
  // of them can be used, the photos already there stay.
  choose(files) {
    const { ok, problem } = this.usable(files, this.most);
    if (ok.length) this.files = ok;
    return problem;
  }

  // Photos added to these (another picker, a drop, the camera); a slot of one photo takes the new one instead.
  add(files) {
    if (this.most === 1) return this.choose(Array.from(files || []).slice(0, 1));
    const { ok, problem } = this.usable(files, this.most - this.files.length);
    this.files = this.files.concat(ok);
    return problem;
  }

  remove(index) {
    this.files.splice(index, 1);
  }
}

// The sentence the slot says of its photos (a polite status, so screen readers hear each change).
export function photosSaid(count, most) {
  if (most === 1 || count < 2) return "";
  return count >= most ? `${count} photos, matched together: the most there can be.`
    : `${count} photos, matched together for a steadier answer.`;
}
