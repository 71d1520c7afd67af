"""The labelling page: a small HTTP server on 127.0.0.1 over one search (standard library only).

  GET  /                 the page (page.html): the round's images per category, one-key labels
  GET  /api/status       round, whether a round is training, the shown images with their labels, counts
                         and estimated precision per category
  GET  /api/image?item=  one shown image, as PNG (only images of the pool are served)
  POST /api/label        {"item", "category", "label": yes|no|skip, "relabel": bool} -> 200, or 409 with
                         the conflict when the image already has another label
  POST /api/undo         {"item", "category"}
  POST /api/next_round   starts training the next round in the background (202); 409 while one trains

Every label goes through SearchState.add, which writes it to disk before the answer is sent.
"""

from __future__ import annotations

import http.server
import io
import json
import pathlib
import threading
import traceback
import urllib.parse

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from bgsplit_tf.search import loop, state as state_lib
from bgsplit_tf.serving import mining

PAGE = pathlib.Path(__file__).with_name("page.html")


class SearchSession:
    """What the page talks to: a Search, the pool's images, and the round being trained (if any)."""

    def __init__(self, search: loop.Search, pool: str, image_size: tuple[int, int], data_dir: str | None = None,
                 who: str = "web", on_round=None):
        self.search, self.pool, self.image_size, self.data_dir, self.who = search, pool, image_size, data_dir, who
        self.on_round = on_round  # called with each finished round's summary (e.g. to save the current model)
        self.lock = threading.Lock()
        self.training: threading.Thread | None = None
        self.message = ""
        self.shown: list[dict] = []
        self.round = -1
        self.images: dict[str, bytes] = {}
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


def make_handler(session: SearchSession):
    """The request handler class bound to one session."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
            logging.debug("page: " + format, *args)

        def _reply(self, code: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, value) -> None:
            self._reply(code, json.dumps(value).encode())

        def do_GET(self):  # noqa: N802  (http.server's naming)
            url = urllib.parse.urlparse(self.path)
            if url.path == "/":
                self._reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")
            elif url.path == "/favicon.ico":
                self._reply(204, b"", "image/x-icon")
            elif url.path == "/api/status":
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

        def do_POST(self):  # noqa: N802
            url = urllib.parse.urlparse(self.path)
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if url.path == "/api/label":
                    label = session.search.state.add(body["item"], body["category"], body["label"], session.who,
                                                     session.round, relabel=bool(body.get("relabel")))
                    self._json(200, {"item": label.item, "category": label.category, "label": label.label})
                elif url.path == "/api/undo":
                    session.search.state.undo(body["item"], body["category"], session.who)
                    self._json(200, {"undone": True})
                elif url.path == "/api/next_round":
                    started = session.start_round()
                    self._json(202 if started else 409, {"started": started} if started else
                               {"error": "a round is training; wait for it"})
                else:
                    self._json(404, {"error": f"no endpoint {url.path}"})
            except state_lib.LabelConflict as conflict:
                self._json(409, {"error": str(conflict)})
            except (KeyError, ValueError, json.JSONDecodeError) as error:
                self._json(400, {"error": f"bad request: {error}"})

    return Handler


def serve(session: SearchSession, port: int = 0) -> http.server.ThreadingHTTPServer:
    """Starts the page on 127.0.0.1:port (0: any free port) in a background thread; returns the server
    (server.server_address has the port; server.shutdown() stops it)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), make_handler(session))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
