"""The labelling page in a real headless Chromium (Debian's chromium and chromium-driver): label a round
with the keyboard, start the next, and find the labels in the state folder; the page's API refuses a
second label for an image and the export reads the current model."""

import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from bgsplit_tf.search import guard, opening, rounds, server

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
REQUIRED = os.environ.get("BGSPLIT_REQUIRE_BROWSER") == "1"  # .ci/run sets it: there the browser must be present
CONFIG = rounds.RoundConfig(epochs=1, pool_sample=64, show_top=3, show_uncertain=1, show_random=1)


HOSTILE = '"><img src=x onerror="window.pwned=1">'  # a legal file and category name that is markup


def _open_session(tiny_data_dir, tmp_path, prefix: str = ""):
    """A search of a folder pool (PNG files of the tiny benchmark's train split, each file and category name
    starting with `prefix`) for two species."""
    import tensorflow_datasets as tfds

    pool = tmp_path / "pool"
    pool.mkdir()
    examples = {}
    for i, example in enumerate(tfds.as_numpy(tfds.load("bgsplit_shapes/tiny", split="train[:160]",
                                                        data_dir=tiny_data_dir))):
        path = pool / f"{prefix}{i:04d}.png"
        Image.fromarray(example["image"]).save(path)
        name = f"{prefix}species_{example['species']}"
        if len(examples) < 2 and name not in examples:
            examples[name] = [str(path)]
    (pool / "vanished.png").write_bytes(b"\x89PNG not really")
    session = opening.open_session(str(tmp_path / "state"), str(pool), examples, "", CONFIG)
    session.training.join(timeout=300)
    return session


@pytest.fixture
def session(tiny_data_dir, tmp_path):
    session = _open_session(tiny_data_dir, tmp_path)
    yield session
    session.close()


def _request(page, path, body=None, headers=None, raw: bytes | None = None):
    """(status, JSON answer) of a request to the page: with this run's token and the page's own origin
    unless `headers` says otherwise (a header set to None is left out); a POST when body or raw is given."""
    sent = {"Content-Type": "application/json", "Origin": page.guard.origin, guard.TOKEN_HEADER: page.guard.token,
            **(headers or {})}
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(page.guard.origin + path, data,
                                     {k: v for k, v in sent.items() if v is not None})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.e2e
def test_the_api_keeps_labels_refuses_conflicts_and_the_export_reads_the_current_model(session, tmp_path):
    page = server.serve(session)
    try:
        code, status = _request(page, "/api/status")
        assert code == 200
        assert status["round"] == 0 and len(status["shown"]) == 2 * 5 and not status["busy"]
        examples = {path for paths in session.search.state.settings["examples"].values() for path in paths}
        assert not examples & {entry["item"] for entry in status["shown"]}  # examples from the pool are never shown
        assert all(session.search.state.labels()[(path, category)].who == "example"
                   for category, paths in session.search.state.settings["examples"].items() for path in paths)
        first = status["shown"][0]
        image = urllib.request.Request(f"{page.guard.origin}/api/image?item={urllib.parse.quote(first['item'])}",
                                       headers={guard.TOKEN_HEADER: page.guard.token})
        with urllib.request.urlopen(image, timeout=30) as response:
            assert response.read()[:4] == b"\x89PNG" and response.headers["X-Content-Type-Options"] == "nosniff"
        assert _request(page, "/api/label", {"item": first["item"], "category": first["category"], "label": "yes"})[0] == 200
        code, answer = _request(page, "/api/label", {"item": first["item"], "category": first["category"], "label": "no"})
        assert code == 409 and "already labelled 'yes'" in answer["error"]
        assert _request(page, "/api/label", {"item": first["item"], "category": "nope", "label": "no"})[0] == 400
    finally:
        page.shutdown()
    labels = (tmp_path / "state" / "labels.jsonl").read_text()
    assert first["item"] in labels and '"yes"' in labels
    assert "vanished.png" in (tmp_path / "state" / "cache" / "skipped.json").read_text()
    from bgsplit_tf.serving import export

    exported = export.export_run(tmp_path / "state" / "current", tmp_path / "export")
    assert (exported / "saved_model.pb").exists()


def _raw_post(page, path, head: str, body: bytes = b"") -> int:
    """The status of a POST sent as raw bytes (headers a client library would not send), read from the
    status line."""
    import socket

    with socket.create_connection(("127.0.0.1", page.server_address[1]), timeout=30) as connection:
        connection.sendall(f"POST {path} HTTP/1.1\r\nHost: {page.guard.origin[7:]}\r\n"
                           f"{guard.TOKEN_HEADER}: {page.guard.token}\r\nContent-Type: application/json\r\n"
                           f"{head}\r\n".encode() + body)
        return int(connection.recv(4096).split()[1])


@pytest.mark.e2e
def test_the_api_refuses_every_request_that_is_not_the_pages_own_and_writes_nothing(session, tmp_path):
    page = server.serve(session)
    labels_file = tmp_path / "state" / "labels.jsonl"
    before = labels_file.read_bytes()
    try:
        shown = _request(page, "/api/status")[1]["shown"][0]
        label = {"item": shown["item"], "category": shown["category"], "label": "yes"}
        refusals = {
            "no token": (_request(page, "/api/label", label, {guard.TOKEN_HEADER: None}), 403, "token"),
            "a wrong token": (_request(page, "/api/label", label, {guard.TOKEN_HEADER: "guess"}), 403, "token"),
            "no token, reading": (_request(page, "/api/status", headers={guard.TOKEN_HEADER: None}), 403, "token"),
            "another origin": (_request(page, "/api/label", label, {"Origin": "http://127.0.0.1:1"}), 403,
                               "http://127.0.0.1:1"),
            "a cross-site fetch": (_request(page, "/api/undo", label, {"Sec-Fetch-Site": "same-site"}), 403,
                                   "same-site"),
            "a simple text/plain request": (_request(page, "/api/label", label, {"Content-Type": "text/plain"}),
                                            415, "application/json"),
            "a rebound host name": (_request(page, "/api/status", headers={"Host": f"rebound.test:{page.server_address[1]}"}),
                                    403, "rebound.test"),
            "a body that is not JSON": (_request(page, "/api/label", raw=b"{item"), 400, "not JSON"),
            "a body that is a list": (_request(page, "/api/label", [label]), 400, "JSON object"),
            "a number for the item": (_request(page, "/api/label", {**label, "item": 7}), 400, "'item' must be a str"),
            "a string for relabel": (_request(page, "/api/label", {**label, "relabel": "yes"}), 400, "'relabel'"),
            "an item not in the pool": (_request(page, "/api/label", {**label, "item": "/etc/passwd"}), 404,
                                        "/etc/passwd"),
            "a body above the limit": (_request(page, "/api/label", raw=b" " * (guard.MAX_BODY_BYTES + 1)), 413,
                                       "limit"),
            "an image not shown this round": (_request(page, "/api/image?item=/etc/passwd"), 404, "this round"),
        }
        for attack, ((code, answer), expected, said) in refusals.items():
            assert code == expected and said in answer["error"], (attack, code, answer)
        assert _raw_post(page, "/api/label", "Content-Length: -5\r\n") == 400
        assert _raw_post(page, "/api/label", "Content-Length: lots\r\n") == 400
        assert _raw_post(page, "/api/label", "") == 411
        assert labels_file.read_bytes() == before  # nothing written on any refusal
        with urllib.request.urlopen(page.guard.origin + "/", timeout=30) as response:  # the page's own policy
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
            assert "<script>" not in response.read().decode()
        opener = urllib.request.build_opener(type("NoRedirect", (urllib.request.HTTPRedirectHandler,),
                                                  {"redirect_request": lambda *args: None}))
        with pytest.raises(urllib.error.HTTPError) as way_in:
            opener.open(page.guard.url, timeout=30)
        assert way_in.value.code == 303 and "HttpOnly; SameSite=Strict" in way_in.value.headers["Set-Cookie"]
        assert _request(page, "/api/label", label)[0] == 200  # and the page's own request still goes through
    finally:
        page.shutdown()


ATTACK = """<!doctype html><script>
// A hostile page on another 127.0.0.1 port, open in the user's browser: it tries to forge, undo and read.
const target = "TARGET", label = JSON.stringify(LABEL), results = {};
function settle(name, promise) { promise.then(value => results[name] = value, () => results[name] = "blocked"); }
settle("simple", fetch(target + "/api/label", {method: "POST", mode: "no-cors", credentials: "include", body: label})
  .then(() => "sent"));
settle("undo", fetch(target + "/api/undo", {method: "POST", mode: "no-cors", credentials: "include", body: label})
  .then(() => "sent"));
settle("json", fetch(target + "/api/label", {method: "POST", credentials: "include",
                                             headers: {"Content-Type": "application/json"}, body: label})
  .then(response => response.status));
settle("read", fetch(target + "/api/status", {credentials: "include"}).then(response => response.text()));
const image = new Image();
image.onload = () => results.image = "loaded"; image.onerror = () => results.image = "blocked";
image.src = target + "/api/image?item=" + encodeURIComponent(JSON.parse(label).item);
</script>"""


def _attacker(page, label):
    """A server on another 127.0.0.1 port serving ATTACK aimed at `page`; returns it (shutdown() stops it)."""
    import http.server
    import threading

    html = ATTACK.replace("TARGET", page.guard.origin).replace("LABEL", json.dumps(label)).encode()

    class Attack(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args):
            pass

    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attack)
    threading.Thread(target=attacker.serve_forever, daemon=True).start()
    return attacker


@pytest.mark.e2e
@pytest.mark.skipif(not (CHROMIUM and DRIVER) and not REQUIRED,
                    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                           "chromium-driver); .ci/run installs them")
def test_a_round_labelled_in_a_real_browser_reaches_the_state_folder_and_hostile_pages_and_names_cannot(
        tiny_data_dir, tmp_path):
    """Every pool file and category is named as markup; a page on another port tries to forge labels and
    read the search; a rebound host name tries to read it: the labels are the keyboard's alone."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    session = _open_session(tiny_data_dir, tmp_path, prefix=HOSTILE)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--host-resolver-rules=MAP rebound.test 127.0.0.1", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    page = server.serve(session)
    port = page.server_address[1]
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    attacker = None
    try:
        browser.get(page.guard.url)
        WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile")) == 10)
        assert browser.current_url == f"{page.guard.origin}/"  # the token left the address bar for a cookie
        # Markup in names is text: no injected element, no script run, the names shown as written.
        assert len(browser.find_elements(By.TAG_NAME, "img")) == 10
        assert browser.execute_script("return window.pwned === undefined")
        assert {h.text for h in browser.find_elements(By.TAG_NAME, "h2")} == set(session.search.categories)
        assert all(i.get_attribute("alt").startswith(str(tmp_path / "pool" / HOSTILE))
                   for i in browser.find_elements(By.CSS_SELECTOR, ".tile img"))
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("ynnsy")  # five images of the first category, one key each, typed at once
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile.yes")) == 2)
        body.send_keys("u")  # undo the latest label
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile.yes")) == 1)
        labels_file = tmp_path / "state" / "labels.jsonl"
        before = labels_file.read_bytes()

        unlabelled = next(e for e in session.status()["shown"] if e["label"] is None)
        labelled = next(e for e in session.status()["shown"] if e["label"] == "yes")
        attacker = _attacker(page, {"item": unlabelled["item"], "category": unlabelled["category"], "label": "yes"})
        browser.get(f"http://127.0.0.1:{attacker.server_address[1]}/")
        results = WebDriverWait(browser, 30).until(
            lambda b: b.execute_script("return Object.keys(results).length === 5 ? results : null"))
        assert results["read"] == "blocked" and results["json"] == "blocked" and results["image"] == "blocked"
        # The simple requests reached the server with the cookie (another port is the same site) and were
        # refused by their origin; what the hostile page saw of the answers, the response policy withheld.
        hostile = f"http://127.0.0.1:{attacker.server_address[1]}"
        refused = {(r.path, r.code) for r in page.refusals if hostile in r.reason}
        assert {("/api/label", 403), ("/api/undo", 403)} <= refused, list(page.refusals)
        browser.get(f"http://rebound.test:{port}/api/status")  # DNS rebinding: the attacker's name, our address
        assert "answers only at" in browser.find_element(By.TAG_NAME, "body").text
        assert labels_file.read_bytes() == before  # nothing forged, nothing undone
        assert session.search.state.labels()[(labelled["item"], labelled["category"])].label == "yes"

        browser.get(f"{page.guard.origin}/")  # the cookie lets the user back in without the token
        WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile")) == 10)
        browser.find_element(By.TAG_NAME, "body").send_keys("r")
        WebDriverWait(browser, 300).until(
            lambda b: b.find_element(By.ID, "round").text == "1" and "ready" in b.find_element(By.ID, "message").text)
    finally:
        browser.quit()
        page.shutdown()
        if attacker is not None:
            attacker.shutdown()
        session.close()
    given = [label for label in session.search.state.labels().values() if label.who != "example"]
    assert sorted(label.label for label in given) == ["no", "no", "skip", "yes"]
    assert all(label.who == "web" and label.round == 0 for label in given)
    assert session.search.state.finished_rounds() == 2
