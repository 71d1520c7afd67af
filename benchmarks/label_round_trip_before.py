"""The label round trip of the labelling page before its checks (commit 234c9a1), timed as
benchmarks/label_round_trip.py times it but without the token, which that page did not have. It runs
the old page, so the package must be that commit's:

    git worktree add /tmp/before 234c9a1
    PYTHONPATH=/tmp/before python benchmarks/label_round_trip_before.py 2000
"""
import json, pathlib, statistics, sys, tempfile, time, urllib.request
import numpy as np
from PIL import Image
from bgsplit_tf.search import rounds, server, setup

def main(requests=2000):
    with tempfile.TemporaryDirectory() as root:
        root = pathlib.Path(root); pool = root / "pool"; pool.mkdir()
        rng = np.random.default_rng(0)
        for i in range(64):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(pool / f"{i:03d}.png")
        config = rounds.RoundConfig(epochs=1, pool_sample=64, show_top=3, show_uncertain=1, show_random=1)
        session = setup.open_session(str(root / "state"), str(pool), {"thing": [str(pool / "000.png")]}, "", config)
        session.training.join()
        page = server.serve(session)
        origin = f"http://127.0.0.1:{page.server_address[1]}"
        item = next(e["item"] for e in session.status()["shown"])
        seconds = []
        try:
            for i in range(requests + 100):
                body = json.dumps({"item": item, "category": "thing", "label": "yes" if i % 2 else "no", "relabel": True})
                request = urllib.request.Request(origin + "/api/label", body.encode(), {"Content-Type": "application/json", "Origin": origin})
                start = time.perf_counter()
                with urllib.request.urlopen(request, timeout=30) as response:
                    response.read()
                seconds.append(time.perf_counter() - start)
        finally:
            page.shutdown()
    seconds = seconds[100:]
    print(f"before: {len(seconds)} label round trips, median {statistics.median(seconds)*1e3:.3f} ms, "
          f"p90 {np.percentile(seconds, 90)*1e3:.3f} ms; first 200 median {statistics.median(seconds[:200])*1e3:.3f} ms, "
          f"last 200 median {statistics.median(seconds[-200:])*1e3:.3f} ms")

main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
