"""The labelling page: a small HTTP server on 127.0.0.1 over one search (standard library only).

  GET  /?token=...       the way in (the URL printed at start): sets this run's cookie, then GET /
  GET  /                 the page (page.html, page.js, page.css): the round's images per category,
                         one-key labels
  GET  /api/status       round, whether a round is training, the shown images with their labels, counts
                         and estimated precision per category
  GET  /api/image?item=  one of this round's shown images, as PNG
  POST /api/label        {"item", "category", "label": yes|no|skip, "relabel": bool} -> 200, or 409 with
                         the conflict when the image already has another label; 404 for an item not in
                         the pool
  POST /api/undo         {"item", "category"}
  POST /api/next_round   starts training the next round in the background (202); 409 while one trains

guard.Guard checks every request first (Host, this run's token, the page's own origin for writes,
bounded JSON bodies); a refused request changes nothing. Every label goes through SearchState.add,
which writes it to disk before the answer is sent.
"""

from __future__ import annotations

import collections
import http.server
import io
import json
import pathlib
import threading
import traceback
import typing
import urllib.parse

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from bgsplit_tf.search import guard as guard_lib, loop, state as state_lib
from bgsplit_tf.serving import mining

# The page's files (served without the token: they hold no data), by path: (file, content type).
STATIC = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8"),
          "/page.css": ("page.css", "text/css; charset=utf-8")}
HERE = pathlib.Path(__file__).parent
REFUSALS_KEPT = 100  # refused requests the server remembers (PageServer.refusals)


class SearchSession:
    """What the page talks to: a Search, the pool's images, and the round being trained (if any)."""

    def __init__(self, search: loop.Search, pool: str, image_size: tuple[int, int], data_dir: str | None = None,
                 who: str = "web", on_round=None, lock: state_lib.StateLock | None = None):
        self.search, self.pool, self.image_size, self.data_dir, self.who = search, pool, image_size, data_dir, who
        self.on_round = on_round  # called with each finished round's summary (e.g. to save the current model)
        self.state_lock = lock  # the state folder's one-writer lock, held while the session is open
        self.lock = threading.Lock()
        self.training: threading.Thread | None = None
        self.message = ""
        self.shown: list[dict] = []
        self.round = -1
        self.images: dict[str, bytes] = {}
        self.pool_items = frozenset(search.cache.items)
        done = search.state.finished_rounds()
        if done:
            summary = json.loads((search.state.round_dir(done - 1) / "shown.json").read_text())
            self._show(summary)

    def _show(self, summary: dict) -> None:
        items = [entry["item"] for entry in summary["shown"]]
        images = pool_images(self.pool, items, self.image_size, self.data_dir)
        with self.lock:
            self.shown, self.round, self.images = summary["shown"], summary["round"], images

    def start_round(self) -> bool:
        """Starts the next round in a thread; False if one is training."""
        with self.lock:
            if self.training is not None and self.training.is_alive():
                return False
            self.message = f"training round {self.search.state.finished_rounds()}"
            self.training = threading.Thread(target=self._train, daemon=True)
            self.training.start()
            return True

    def _train(self) -> None:
        try:
            summary = self.search.next_round()
            self._show(summary)
            if self.on_round is not None:
                self.on_round(summary)
            self.message = f"round {summary['round']} ready ({summary['train_seconds']:.1f} s of training)"
        except Exception as error:  # shown on the page; the labels are on disk whatever happens here
            logging.error("round failed: %s", traceback.format_exc())
            self.message = f"the round failed: {error}"

    def close(self) -> None:
        """Waits for a round in training to finish, then gives the state folder's lock up."""
        if self.training is not None:
            self.training.join()
        if self.state_lock is not None:
            self.state_lock.release()

    def status(self) -> dict:
        """What the page shows (module docstring)."""
        labels = self.search.state.labels()
        with self.lock:
            shown = [{**entry, "label": getattr(labels.get((entry["item"], entry["category"])), "label", None)}
                     for entry in self.shown]
            busy = self.training is not None and self.training.is_alive()
        counts: dict[str, dict[str, int]] = {c: {"yes": 0, "no": 0, "skip": 0} for c in self.search.categories}
        for (_, category), label in labels.items():
            if category in counts:
                counts[category][label.label] += 1
        return {"round": self.round, "busy": busy, "message": self.message, "categories": self.search.categories,
                "shown": shown, "counts": counts, "precision": loop.estimated_precision(self.shown, labels)}


def pool_images(pool: str, items: list[str], image_size: tuple[int, int], data_dir: str | None) -> dict[str, bytes]:
    """PNG bytes of `items` of the pool (decoded and resized as the model sees them); an image that no
    longer decodes (say, its file vanished) is left out, and the page says so."""
    source, examples, _ = mining.pool_examples(pool, image_size, data_dir)
    wanted = tf.constant(sorted(set(items)) or [""])
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(wanted, tf.ones_like(wanted, tf.int32)), 0)
    chosen = examples.filter(lambda ex: table.lookup(ex["item"]) == 1).map(
        lambda ex: (ex["item"], source.decode(ex)["image"])).ignore_errors()
    images = {}
    for item, pixels in chosen.as_numpy_iterator():
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(pixels)).save(buffer, format="PNG")
        images[item.decode()] = buffer.getvalue()
    return images


def make_handler(session: SearchSession, guard: guard_lib.Guard):
    """The request handler class bound to one session and its guard."""

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 30  # seconds a connection may stall (a body shorter than its Content-Length) before it is dropped

        def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
            logging.debug("page: " + format, *args)

        def _reply(self, code: int, body: bytes, content_type: str = "application/json",
                   headers: dict | None = None) -> None:
            self.send_response(code)
            for name, value in {**guard_lib.COMMON_HEADERS, "Content-Type": content_type,
                                "Content-Length": str(len(body)), **(headers or {})}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, value) -> None:
            self._reply(code, json.dumps(value).encode())

        def _refuse(self, refused: guard_lib.Refused) -> None:
            """Answers the refusal and keeps a record of it: a user whose page is being attacked sees it in the log."""
            path = urllib.parse.urlparse(self.path).path
            self.server.refusals.append(Refusal(self.command, path, refused.code, refused.reason))
            logging.warning("page: refused %s %s (%d): %s", self.command, path, refused.code, refused.reason)
            self._json(refused.code, {"error": refused.reason})

        def do_GET(self):  # noqa: N802  (http.server's naming)
            url = urllib.parse.urlparse(self.path)
            try:
                guard.check_host(self.headers)
                if url.path == "/" and guard.token_in_query(url.query):  # the way in: token -> cookie
                    self._reply(303, b"", "text/plain", {"Location": "/", "Set-Cookie": guard.session_cookie()})
                    return
                if url.path in STATIC:
                    name, content_type = STATIC[url.path]
                    self._reply(200, (HERE / name).read_bytes(), content_type,
                                {"Content-Security-Policy": guard_lib.PAGE_POLICY})
                    return
                if url.path == "/favicon.ico":
                    self._reply(204, b"", "image/x-icon")
                    return
                guard.check_token(self.headers)
                if url.path == "/api/status":
                    self._json(200, session.status())
                elif url.path == "/api/image":
                    item = urllib.parse.parse_qs(url.query).get("item", [""])[0]
                    image = session.images.get(item)
                    if image is None:
                        self._json(404, {"error": f"{item} is not among this round's images, or it no longer decodes"})
                    else:
                        self._reply(200, image, "image/png")
                else:
                    self._json(404, {"error": f"no page {url.path}"})
            except guard_lib.Refused as refused:
                self._refuse(refused)

        def do_POST(self):  # noqa: N802
            url = urllib.parse.urlparse(self.path)
            try:
                guard.check_host(self.headers)
                guard.check_token(self.headers)
                guard.check_write(self.headers)
                body = guard.read_json(self.headers, self.rfile)
                if url.path == "/api/label":
                    item, category = self._pool_item(body), guard_lib.field(body, "category", str)
                    label = session.search.state.add(item, category, guard_lib.field(body, "label", str), session.who,
                                                     session.round, relabel=guard_lib.field(body, "relabel", bool, False))
                    self._json(200, {"item": label.item, "category": label.category, "label": label.label})
                elif url.path == "/api/undo":
                    session.search.state.undo(self._pool_item(body), guard_lib.field(body, "category", str), session.who)
                    self._json(200, {"undone": True})
                elif url.path == "/api/next_round":
                    started = session.start_round()
                    self._json(202 if started else 409, {"started": started} if started else
                               {"error": "a round is training; wait for it"})
                else:
                    self._json(404, {"error": f"no endpoint {url.path}"})
            except guard_lib.Refused as refused:
                self._refuse(refused)
            except state_lib.LabelConflict as conflict:
                self._json(409, {"error": str(conflict)})
            except ValueError as error:  # SearchState's refusals: an unknown category or label, nothing to undo
                self._json(400, {"error": f"bad request: {error}"})

        def _pool_item(self, body: dict) -> str:
            item = guard_lib.field(body, "item", str)
            if item not in session.pool_items:
                raise guard_lib.Refused(404, f"{item!r} is not an image of this search's pool")
            return item

    return Handler


class Refusal(typing.NamedTuple):
    """One refused request: its method, path, HTTP status and reason."""

    method: str
    path: str
    code: int
    reason: str


class PageServer(http.server.ThreadingHTTPServer):
    """The page's server; .guard holds this run's token and .guard.url is the way in; .refusals the latest
    REFUSALS_KEPT refused requests, oldest first."""

    guard: guard_lib.Guard
    refusals: collections.deque


def serve(session: SearchSession, port: int = 0) -> PageServer:
    """Starts the page on 127.0.0.1:port (0: any free port) in a background thread, with a new token;
    returns the server (server.guard.url is the URL to open; server.shutdown() stops it)."""
    server = PageServer((guard_lib.LOOPBACK, port), http.server.BaseHTTPRequestHandler)
    server.guard = guard_lib.Guard(server.server_address[1])
    server.refusals = collections.deque(maxlen=REFUSALS_KEPT)
    server.RequestHandlerClass = make_handler(session, server.guard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
