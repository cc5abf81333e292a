"""An error's message as the pages say it: the photo it is about in words ("Second photo"), not as the
API names the field ("photo[1]"), and several photos of different people explained plainly."""

from __future__ import annotations

import re

from app.pipeline.errors import LooksLikeError

ORDINALS = ("first", "second", "third")
INDEXED = re.compile(r"^(?:photo|embeddings)\[(\d)\]$")  # the upload's and private mode's photos
NUMBERED = {"photo1": "first", "photo2": "second"}  # the "Same person?" page's two photos


def photo_index(error: LooksLikeError | None) -> int | None:
    """Which of several photos (from 0) the error is about, None when it is about none in particular."""
    if error is None or error.code == "different_people" and getattr(error, "odd", None) is None:
        return None
    found = INDEXED.match(error.field or "")
    return int(found.group(1)) if found and int(found.group(1)) < len(ORDINALS) else None


def visitor_message(error: LooksLikeError) -> str:
    """The message of `error` for a visitor of the pages."""
    k = photo_index(error)
    if error.code == "different_people":
        if k is not None:
            return (f"Your {ORDINALS[k]} photo shows a different person from the other two. Please use photos of "
                    "one person only: remove that photo or choose another one of you.")
        count = getattr(error, "photos", 0)
        these = "These two photos show" if count == 2 else "These photos show"
        return f"{these} different people. Please use photos of one person only."
    prefix = f"{error.field}: " if error.field else ""
    if prefix and error.message.startswith(prefix):
        words = ORDINALS[k] if k is not None else NUMBERED.get(error.field)
        if words:
            return f"{words.capitalize()} photo: {error.message[len(prefix):]}"
    return error.message
