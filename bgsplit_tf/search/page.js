// The labelling page's behaviour (served as /page.js; the page's policy allows no inline script).
// Every piece of data (an image's path, a category's name, a message) reaches the page as text, through
// textContent and attribute setters: markup is never built from data.
"use strict";
let shown = [], focus = 0, lastRound = null, given = [], queue = Promise.resolve();

async function call(path, body) {
  const response = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                      body: JSON.stringify(body || {})});
  const answer = await response.json();
  document.getElementById("error").textContent = response.ok ? "" : answer.error;
  return response.ok;
}

function element(tag, text, className) {  // a new element holding `text` as text
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function percent(value) { return value === undefined ? "-" : (100 * value).toFixed(0) + "%"; }

function renderCounts(status) {
  const counts = document.getElementById("counts");
  counts.replaceChildren(...status.categories.map(c => {
    const n = status.counts[c], p = status.precision[c] || {};
    const line = element("div");
    line.append(element("b", c), `: ${n.yes} yes, ${n.no} no, ${n.skip} skipped; this round's precision: ` +
                `top-scored ${percent(p.top)}, random ${percent(p.random)}`);
    return line;
  }));
}

function tileOf(entry, i) {
  const tile = element("div", undefined, "tile");
  tile.id = "tile-" + i;
  const image = element("img");
  image.alt = entry.item;
  image.src = "/api/image?item=" + encodeURIComponent(entry.item);
  tile.append(image, `${entry.reason} \u00b7 ${Number(entry.score).toFixed(3)}`);
  tile.onclick = () => { focus = i; paint(); };
  return tile;
}

function renderTiles(status) {
  lastRound = status.round; shown = status.shown; focus = 0; given = [];
  document.getElementById("tiles").replaceChildren(...status.categories.map(category => {
    const section = element("div", undefined, "category"), grid = element("div", undefined, "grid");
    section.append(element("h2", category), grid);
    shown.forEach((entry, i) => { if (entry.category === category) grid.append(tileOf(entry, i)); });
    return section;
  }));
}

function render(status) {
  document.getElementById("round").textContent = status.round < 0 ? "none yet" : status.round;
  document.getElementById("message").textContent = status.busy ? status.message + "..." : status.message;
  document.getElementById("next").disabled = status.busy;
  renderCounts(status);
  if (status.round !== lastRound) {
    renderTiles(status);
  } else {
    status.shown.forEach((entry, i) => { if (shown[i]) shown[i].label = entry.label; });
  }
  paint();
}

function paint() {
  shown.forEach((entry, i) => {
    const tile = document.getElementById("tile-" + i);
    if (!tile) return;
    tile.className = "tile" + (entry.label ? " " + entry.label : "") + (i === focus ? " focus" : "");
  });
}

async function refresh() {
  const response = await fetch("/api/status");
  const answer = await response.json();
  if (!response.ok) { document.getElementById("error").textContent = answer.error; return; }
  render(answer);
}

async function label(value) {
  const entry = shown[focus];
  if (!entry) return;
  const relabel = Boolean(entry.label);  // labelling a labelled tile again changes its label
  if (await call("/api/label", {item: entry.item, category: entry.category, label: value, relabel: relabel})) {
    entry.label = value;
    given.push(focus);
    focus = Math.min(focus + 1, shown.length - 1);
  }
  paint();
}

async function undo() {  // takes back the latest label given on this page, and moves back to it
  const index = given.pop();
  const entry = shown[index];
  if (entry && await call("/api/undo", {item: entry.item, category: entry.category})) {
    entry.label = null; focus = index; paint();
  }
}

async function nextRound() { if (await call("/api/next_round")) refresh(); }

document.getElementById("next").onclick = nextRound;
document.addEventListener("keydown", event => {
  const actions = {y: () => label("yes"), n: () => label("no"), s: () => label("skip"), u: undo, r: nextRound,
                   ArrowRight: () => { focus = Math.min(focus + 1, shown.length - 1); paint(); },
                   ArrowLeft: () => { focus = Math.max(focus - 1, 0); paint(); }};
  // One key at a time, in the order typed: a label is on disk before the next key acts.
  if (actions[event.key]) { event.preventDefault(); queue = queue.then(actions[event.key]); }
});
refresh();
setInterval(refresh, 700);
