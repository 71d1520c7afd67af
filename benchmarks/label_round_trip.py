"""What the labelling page's checks cost on a label round trip: one POST /api/label answered, in ms.

Opens a real search (a pool of random PNG files, the embedded teacher, round 0 trained), serves its page,
and times many label round trips from a client in this process, alternating blocks with the guard's
checks (Host, token, Origin, Sec-Fetch-Site, content type) in force and with them switched off, so both
see the same machine load. Prints the median and 90th percentile of each and their ratio.

    python benchmarks/label_round_trip.py --requests=2000
"""

import contextlib
import json
import pathlib
import statistics
import tempfile
import time
import urllib.request

import numpy as np
from absl import app, flags
from PIL import Image

from bgsplit_tf.search import guard, opening, rounds, server

_REQUESTS = flags.DEFINE_integer("requests", 2000, "Label round trips timed per variant.", lower_bound=10)
_BLOCK = flags.DEFINE_integer("block", 100, "Round trips per alternating block.", lower_bound=1)
CHECKS = ("check_host", "check_token", "check_write")


@contextlib.contextmanager
def checks_off():
    """Within it, the guard's request checks pass everything (bodies are still bounded and parsed)."""
    saved = {name: getattr(guard.Guard, name) for name in CHECKS}
    for name in CHECKS:
        setattr(guard.Guard, name, lambda self, headers: None)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(guard.Guard, name, method)


def open_search(root: pathlib.Path) -> server.SearchSession:
    """A search of 64 random 32x32 PNG files for one category with one example; round 0 trained."""
    pool = root / "pool"
    pool.mkdir()
    rng = np.random.default_rng(0)
    for i in range(64):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(pool / f"{i:03d}.png")
    config = rounds.RoundConfig(epochs=1, pool_sample=64, show_top=3, show_uncertain=1, show_random=1)
    session = opening.open_session(str(root / "state"), str(pool), {"thing": [str(pool / "000.png")]}, "", config)
    session.training.join()
    return session


def time_block(page: server.PageServer, item: str, count: int) -> list[float]:
    """Seconds of each of `count` label round trips (relabelled yes/no in turn, as the page's own requests)."""
    headers = {"Content-Type": "application/json", "Origin": page.guard.origin, guard.TOKEN_HEADER: page.guard.token}
    seconds = []
    for i in range(count):
        body = json.dumps({"item": item, "category": "thing", "label": "yes" if i % 2 else "no", "relabel": True})
        request = urllib.request.Request(page.guard.origin + "/api/label", body.encode(), headers)
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as root:
        session = open_search(pathlib.Path(root))
        page = server.serve(session)
        item = next(entry["item"] for entry in session.status()["shown"])
        timings = {"checks on": [], "checks off": []}
        try:
            time_block(page, item, _BLOCK.value)  # warm-up
            while len(timings["checks on"]) < _REQUESTS.value:
                timings["checks on"] += time_block(page, item, _BLOCK.value)
                with checks_off():
                    timings["checks off"] += time_block(page, item, _BLOCK.value)
        finally:
            page.shutdown()
            session.close()
    medians = {}
    for variant, seconds in timings.items():
        medians[variant] = statistics.median(seconds) * 1e3
        print(f"{variant}: {len(seconds)} label round trips, median {medians[variant]:.3f} ms, "
              f"p90 {np.percentile(seconds, 90) * 1e3:.3f} ms")
    print(f"checks on / checks off (medians): {medians['checks on'] / medians['checks off']:.3f}")


if __name__ == "__main__":
    app.run(main)
