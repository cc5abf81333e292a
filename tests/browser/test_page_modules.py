"""The page's own ES modules (static/js/page/) one by one, imported into a real page in Chromium.

Each test opens the upload page (under the app's CSP) and imports a module with import(), so the code
under test is the file the page loads; the inputs are real demo photos, made in the page as File
objects from their bytes.
"""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from browser.browser_support import val_photo

pytestmark = pytest.mark.browser

# The page's modules, imported by absolute URL (the driver's script has no base URL of its own).
IMPORT = "(name) => import(location.origin + '/static/js/page/' + name)"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def run(page, body: str, arg=None):
    """Evaluate `async (arg, load) => {body}` in the page, where load(name) imports a page module and
    file(b64, name, type) makes a File of those bytes."""
    return page.evaluate(f"""async (arg) => {{
        const load = {IMPORT};
        const file = (data, name, type) => new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name,
                                                    {{type}});
        {body}
    }}""", arg)


@pytest.fixture()
def upload_page(page, server):
    page.goto(server + "/")
    return page


def test_check_file_refuses_what_is_not_a_photo(upload_page):
    photo = b64(read(val_photo("madonna")))
    said = run(upload_page, """
        const { checkFile, mb } = await load("photos.js");
        const big = new File([new Uint8Array(61 * 1024 * 1024)], "huge.jpg", {type: "image/jpeg"});
        return {photo: checkFile(file(arg, "me.jpg", "image/jpeg")),
                untyped: checkFile(file(arg, "me", "")),
                text: checkFile(file(btoa("hello"), "notes.txt", "text/plain")),
                empty: checkFile(new File([], "empty.jpg", {type: "image/jpeg"})),
                big: checkFile(big), sizes: [mb(1536 * 1024), mb(12 * 1024 * 1024)]};
    """, photo)
    assert said["photo"] is None and said["untyped"] is None  # a file without a type may still be a photo
    assert said["text"] == "“notes.txt” is not a photo. Please choose a JPEG, PNG or WebP image."
    assert said["empty"] == "“empty.jpg” is empty. Please choose another photo."
    assert said["big"] == "This file is 61 MB; please choose a photo under 60 MB."
    assert said["sizes"] == ["1.5 MB", "12 MB"]


def test_a_small_photo_is_sent_as_it_is(upload_page):
    data = read(val_photo("elton_john"))
    same = run(upload_page, """
        const { preparePhoto } = await load("photos.js");
        const chosen = file(arg, "elton.jpg", "image/jpeg");
        return (await preparePhoto(chosen, 10 * 1024 * 1024, 1024)) === chosen;
    """, b64(data))
    assert same


def rotated_jpeg(path: str, side: int) -> bytes:
    """A demo photo enlarged to `side` px, stored turned 90 degrees with EXIF orientation 6 (shown upright),
    as phones save portraits."""
    img = Image.open(path).convert("RGB")
    scale = side / max(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    img.transpose(Image.Transpose.ROTATE_90).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    return buf.getvalue()


def test_a_large_photo_is_redrawn_upright_at_the_servers_size(upload_page):
    path = val_photo("jerry_seinfeld", 2)  # a portrait, enlarged
    width, height = Image.open(path).size
    data = rotated_jpeg(path, 2400)
    sent = run(upload_page, """
        const { preparePhoto } = await load("photos.js");
        const out = await preparePhoto(file(arg, "IMG_0001.JPG", "image/jpeg"), 10 * 1024 * 1024, 1024);
        const shown = await createImageBitmap(out);
        return {name: out.name, type: out.type, width: shown.width, height: shown.height, bytes: out.size};
    """, b64(data))
    assert sent["name"] == "IMG_0001.jpg" and sent["type"] == "image/jpeg"
    assert sent["height"] == 1024 and sent["width"] == round(width * 1024 / height)  # upright, longer side 1024
    assert sent["bytes"] < len(data)


def test_transparent_pixels_become_white_as_on_the_server(upload_page):
    img = Image.open(val_photo("mindy_kaling")).convert("RGBA").resize((1500, 1500))
    img.putalpha(Image.new("L", img.size, 255))
    img.paste((0, 0, 0, 0), (0, 0, 200, 200))  # a transparent corner
    buf = io.BytesIO()
    img.save(buf, "PNG")
    corner = run(upload_page, """
        const { preparePhoto } = await load("photos.js");
        const out = await preparePhoto(file(arg, "cut-out.png", "image/png"), 10 * 1024 * 1024, 1024);
        const canvas = new OffscreenCanvas(1024, 1024);
        const ctx = canvas.getContext("2d");
        ctx.drawImage(await createImageBitmap(out), 0, 0);
        return {type: out.type, pixel: Array.from(ctx.getImageData(20, 20, 1, 1).data)};
    """, b64(buf.getvalue()))
    assert corner["type"] == "image/jpeg"
    assert all(v >= 250 for v in corner["pixel"][:3]), corner


def test_an_unreadable_file_over_the_limit_is_refused_before_sending(upload_page):
    said = run(upload_page, """
        const { preparePhoto } = await load("photos.js");
        const junk = new File([new Uint8Array(3 * 1024 * 1024).fill(7)], "scan.heic", {type: "image/heic"});
        try { await preparePhoto(junk, 2 * 1024 * 1024, 1024); return "sent"; }
        catch (err) { return err.userMessage; }
    """)
    assert said == ("This photo is 3 MB, over the 2 MB limit, and your browser cannot shrink it. "
                    "Please choose a smaller photo.")


def test_the_servers_error_page_gives_its_message(upload_page, server):
    said = run(upload_page, """
        const { errorFrom, send } = await load("transport.js");
        const form = new FormData();
        form.append("photo", new File([new TextEncoder().encode("not an image")], "x.jpg", {type: "image/jpeg"}));
        const answer = await send("/match", form);
        return {status: answer.status, message: errorFrom(answer),
                other: errorFrom({status: 502, text: "<html><body>Bad gateway</body></html>"})};
    """)
    assert said["status"] == 415 and "not an image we can read" in said["message"]
    assert said["other"] == "Something went wrong (error 502). Please try again."


def test_camera_failures_in_plain_words(upload_page):
    said = run(upload_page, """
        const { cameraMessage } = await load("camera.js");
        return ["NotAllowedError", "NotFoundError", "NotReadableError", "TypeError"].map(
            (name) => cameraMessage(new DOMException("details", name)));
    """)
    assert said[0].startswith("Camera access is blocked")
    assert said[1] == "No camera was found on this device. Please choose a photo instead."
    assert said[2].startswith("The camera is in use by another app")
    assert said[3] == "The camera is not available (details). Please choose a photo instead."


def test_a_photo_set_keeps_at_most_its_number_of_photos(upload_page):
    photo = b64(read(val_photo("madonna")))
    said = run(upload_page, """
        const { PhotoSet, photosSaid } = await load("photo_set.js");
        const one = (name) => file(arg, name, "image/jpeg");
        const notes = file(btoa("hello"), "notes.txt", "text/plain");
        const names = (set) => set.files.map((f) => f.name);
        const set = new PhotoSet(3), steps = [];
        steps.push([set.choose([notes]), names(set)]);  // nothing usable: nothing chosen
        steps.push([set.choose([one("a"), one("b")]), names(set)]);
        steps.push([set.add([one("c"), one("d")]), names(set), set.full]);
        steps.push([set.add([one("e")]), names(set)]);
        set.remove(0);
        steps.push([set.add([notes, one("f")]), names(set)]);
        steps.push([set.choose([notes]), names(set)]);  // the photos there stay
        steps.push([set.choose([one("g")]), names(set)]);
        const single = new PhotoSet(1);
        single.add([one("h")]);
        steps.push([single.add([one("i"), one("j")]), names(single)]);  // one photo: the new one replaces it
        steps.push([photosSaid(1, 3), photosSaid(2, 3), photosSaid(3, 3), photosSaid(2, 1)]);
        return steps;
    """, photo)
    not_a_photo = "“notes.txt” is not a photo. Please choose a JPEG, PNG or WebP image."
    assert said[0] == [not_a_photo, []]
    assert said[1] == [None, ["a", "b"]]
    assert said[2] == ["At most 3 photos are matched together, so only the first one was added.", ["a", "b", "c"],
                       True]
    assert said[3] == ["At most 3 photos are matched together: remove one to add another.", ["a", "b", "c"]]
    assert said[4] == [not_a_photo, ["b", "c", "f"]]
    assert said[5] == [not_a_photo, ["b", "c", "f"]]
    assert said[6] == [None, ["g"]]
    assert said[7] == [None, ["i"]]
    assert said[8] == ["", "2 photos, matched together for a steadier answer.",
                       "3 photos, matched together: the most there can be.", ""]
