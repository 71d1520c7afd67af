"""The labelling page in a real headless Chromium (Debian's chromium and chromium-driver): label a round
with the keyboard, start the next, and find the labels in the state folder; the page's API refuses a
second label for an image and the export reads the current model."""

import json
import os
import shutil
import urllib.error
import urllib.request

import pytest
from PIL import Image

from bgsplit_tf.search import rounds, server, setup

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
REQUIRED = os.environ.get("BGSPLIT_REQUIRE_BROWSER") == "1"  # .ci/run sets it: there the browser must be present
CONFIG = rounds.RoundConfig(epochs=1, pool_sample=64, show_top=3, show_uncertain=1, show_random=1)


@pytest.fixture
def session(tiny_data_dir, tmp_path):
    """A search of a folder pool (PNG files of the tiny benchmark's train split) for two species."""
    import tensorflow_datasets as tfds

    pool = tmp_path / "pool"
    pool.mkdir()
    examples = {}
    for i, example in enumerate(tfds.as_numpy(tfds.load("bgsplit_shapes/tiny", split="train[:160]",
                                                        data_dir=tiny_data_dir))):
        Image.fromarray(example["image"]).save(pool / f"{i:04d}.png")
        name = f"species_{example['species']}"
        if len(examples) < 2 and name not in examples:
            examples[name] = [str(pool / f"{i:04d}.png")]
    (pool / "vanished.png").write_bytes(b"\x89PNG not really")
    session = setup.open_session(str(tmp_path / "state"), str(pool), examples, "", CONFIG)
    session.training.join(timeout=300)
    return session


def _post(base, path, body):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.e2e
def test_the_api_keeps_labels_refuses_conflicts_and_the_export_reads_the_current_model(session, tmp_path):
    page = server.serve(session)
    base = f"http://127.0.0.1:{page.server_address[1]}"
    try:
        status = json.loads(urllib.request.urlopen(base + "/api/status", timeout=30).read())
        assert status["round"] == 0 and len(status["shown"]) == 2 * 5 and not status["busy"]
        examples = {path for paths in session.search.state.settings["examples"].values() for path in paths}
        assert not examples & {entry["item"] for entry in status["shown"]}  # examples from the pool are never shown
        assert all(session.search.state.labels()[(path, category)].who == "example"
                   for category, paths in session.search.state.settings["examples"].items() for path in paths)
        first = status["shown"][0]
        assert urllib.request.urlopen(f"{base}/api/image?item={first['item']}", timeout=30).read()[:4] == b"\x89PNG"
        assert _post(base, "/api/label", {"item": first["item"], "category": first["category"], "label": "yes"})[0] == 200
        code, answer = _post(base, "/api/label", {"item": first["item"], "category": first["category"], "label": "no"})
        assert code == 409 and "already labelled 'yes'" in answer["error"]
        assert _post(base, "/api/label", {"item": first["item"], "category": "nope", "label": "no"})[0] == 400
    finally:
        page.shutdown()
    labels = (tmp_path / "state" / "labels.jsonl").read_text()
    assert first["item"] in labels and '"yes"' in labels
    assert "vanished.png" in (tmp_path / "state" / "cache" / "skipped.json").read_text()
    from bgsplit_tf.serving import export

    exported = export.export_run(tmp_path / "state" / "current", tmp_path / "export")
    assert (exported / "saved_model.pb").exists()


@pytest.mark.e2e
@pytest.mark.skipif(not (CHROMIUM and DRIVER) and not REQUIRED,
                    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium "
                           "chromium-driver); .ci/run installs them")
def test_a_round_labelled_with_the_keyboard_in_a_real_browser_reaches_the_state_folder(session, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    page = server.serve(session)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        browser.get(f"http://127.0.0.1:{page.server_address[1]}/")
        WebDriverWait(browser, 60).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile")) == 10)
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("ynnsy")  # five images of the first category, one key each, typed at once
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile.yes")) == 2)
        body.send_keys("u")  # undo the latest label
        WebDriverWait(browser, 30).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".tile.yes")) == 1)
        body.send_keys("r")
        WebDriverWait(browser, 300).until(
            lambda b: b.find_element(By.ID, "round").text == "1" and "ready" in b.find_element(By.ID, "message").text)
    finally:
        browser.quit()
        page.shutdown()
    given = [label for label in session.search.state.labels().values() if label.who != "example"]
    assert sorted(label.label for label in given) == ["no", "no", "skip", "yes"]
    assert all(label.who == "web" and label.round == 0 for label in given)
    assert session.search.state.finished_rounds() == 2
