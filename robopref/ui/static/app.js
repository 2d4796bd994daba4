// robopref query UI: one query at a time, both segments' camera views played in sync,
// keyboard-first labelling. The server is the only source of truth: a label is shown as
// saved only after POST /api/label answered (it answers after the SQLite commit).
"use strict";

const $ = (id) => document.getElementById(id);
const NAME_KEY = "robopref.annotator";
const LABEL_TEXT = { a: "A is better", b: "B is better", equal: "equal", skip: "can't tell" };

const state = {
  info: null,
  annotator: "",
  current: null,   // the view on screen: {payload, el, videos}
  upcoming: null,  // Promise of the next view (preloading off screen), or null
  busy: false,     // a label or undo is in flight: further keys wait for its answer
  pending: null,   // {key, id}: the client label id of an unacknowledged choice (retries reuse it)
  pollTimer: null,
  rate: 1,
  player: null,
};

// ---------------------------------------------------------------- server
async function api(path, options = {}) {
  const init = { credentials: "same-origin", cache: "no-store", ...options };
  if (init.body !== undefined) init.headers = { "Content-Type": "application/json" };
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return { status: 0, body: { error: `network error: ${err.message}` } };
  }
  let body = null;
  if (response.status !== 204) {
    try { body = await response.json(); } catch (err) { body = { error: response.statusText }; }
  }
  return { status: response.status, body };
}

function post(path, data) {
  return api(path, { method: "POST", body: JSON.stringify(data) });
}

// A random id per choice, so a retry after a lost answer is stored once. crypto.randomUUID
// exists only in secure contexts (https, localhost); getRandomValues exists everywhere.
function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------- status and counters
function setStatus(text, kind = "") {
  const el = $("status");
  el.textContent = text;
  el.className = kind;
}

function showCounts(counts) {
  if (!counts) return;
  $("n-labelled").textContent = counts.labelled;
  $("n-queued").textContent = counts.queued;
  $("n-labels").textContent = counts.labels;
  showMine();
}

// Your own figures: your label count and, once enough gold pairs are among your labels,
// your agreement with their known answers (the server decides when; it never says which).
async function showMine() {
  if (!state.annotator) return;
  const r = await api(`/api/me?annotator=${encodeURIComponent(state.annotator)}`);
  if (r.status !== 200) return;
  $("n-mine").textContent = r.body.labels;
  $("agreement").textContent =
    r.body.agreement === null ? "" : ` · ${Math.round(100 * r.body.agreement)}% agreement`;
}

// ---------------------------------------------------------------- views
function segmentElement(side, seg) {
  const box = document.createElement("section");
  box.className = `segment side-${side}`;
  box.dataset.side = side;
  const title = document.createElement("h2");
  const end = seg.start + seg.length;
  title.innerHTML = `<span class="tag">${side.toUpperCase()}</span>`;
  const small = document.createElement("small");
  small.textContent = `episode ${seg.episode_id.slice(0, 12)} · steps ${seg.start}–${end}`;
  title.appendChild(small);
  box.appendChild(title);
  const videos = [];
  if (seg.error) {
    const msg = document.createElement("div");
    msg.className = "message error";
    msg.textContent = `${seg.error} (you can still skip this query)`;
    box.appendChild(msg);
  } else if (seg.cameras.length === 0) {
    const msg = document.createElement("div");
    msg.className = "message";
    msg.textContent = "this episode has no camera frames";
    box.appendChild(msg);
  }
  const views = document.createElement("div");
  views.className = "views";
  for (const cam of seg.cameras) {
    const fig = document.createElement("figure");
    const video = document.createElement("video");
    video.muted = true;          // muted: Chromium lets it play without a click
    video.playsInline = true;
    video.preload = "auto";
    video.dataset.camera = cam.camera;
    video.dataset.side = side;
    video.src = cam.url;
    fig.appendChild(video);
    const cap = document.createElement("figcaption");
    cap.textContent = cam.camera;
    fig.appendChild(cap);
    views.appendChild(fig);
    videos.push(video);
  }
  box.appendChild(views);
  return { box, videos };
}

function buildView(payload) {
  const el = document.createElement("div");
  el.className = "pair";
  el.dataset.queryId = payload.query.id;
  const a = segmentElement("a", payload.a);
  const b = segmentElement("b", payload.b);
  el.append(a.box, b.box);
  $("preload").appendChild(el);  // starts loading now, off screen
  return { payload, el, videos: [...a.videos, ...b.videos] };
}

function discard(view) {
  if (!view) return;
  for (const v of view.videos) { v.pause(); v.removeAttribute("src"); v.load(); }
  view.el.remove();
}

function showView(view) {
  if (state.player) state.player.stop();
  if (state.current) discard(state.current);
  state.current = view;
  const stage = $("stage");
  stage.replaceChildren(view.el);
  const p = view.payload;
  $("description").textContent = p.description || "Which segment does the task better?";
  $("task-name").textContent = p.task || "";
  $("query-meta").textContent =
    `query #${p.query.id}` +
    (p.query.k > 1 ? ` · ${p.query.n_labels}/${p.query.k} labels` : "");
  showCounts(p.counts);
  state.player = new Player(view.videos);
  enableChoices(true);
}

function showWaiting(text) {
  if (state.player) state.player.stop();
  state.player = null;
  if (state.current) discard(state.current);
  state.current = null;
  const msg = document.createElement("div");
  msg.id = "waiting";
  msg.className = "message";
  msg.textContent = text;
  $("stage").replaceChildren(msg);
  $("query-meta").textContent = "";
  enableChoices(false);
}

function enableChoices(on) {
  for (const b of document.querySelectorAll("#choices button[data-label]")) b.disabled = !on;
}

// ---------------------------------------------------------------- synchronized playback
// One clock for all views of both segments: the longest video leads; the others follow it
// (re-synced when they drift by more than 80 ms) and hold their last frame when shorter.
class Player {
  constructor(videos) {
    this.videos = videos;
    this.playing = true;
    this.scrubbing = false;
    this.alive = true;
    for (const v of videos) {
      v.playbackRate = state.rate;
      v.defaultPlaybackRate = state.rate;
      v.loop = false;
      v.addEventListener("loadedmetadata", () => this.start(v));
      v.addEventListener("ended", () => this.ended(v));
      if (v.readyState >= 1) this.start(v);
    }
    $("play").textContent = "Pause";
    this.tick = this.tick.bind(this);
    requestAnimationFrame(this.tick);
  }

  get lead() {
    let best = this.videos[0];
    for (const v of this.videos) if ((v.duration || 0) > (best.duration || 0)) best = v;
    return best;
  }

  start(v) {
    if (this.playing && this.alive) v.play().catch(() => {});
  }

  ended(v) {
    if (!this.alive || v !== this.lead) return;
    if ($("loop").checked) {
      this.seek(0);
      this.play();
    } else {
      this.pause();
    }
  }

  play() {
    this.playing = true;
    for (const v of this.videos) if (!(v.ended && v !== this.lead)) v.play().catch(() => {});
    $("play").textContent = "Pause";
  }

  pause() {
    this.playing = false;
    for (const v of this.videos) v.pause();
    $("play").textContent = "Play";
  }

  toggle() { if (this.playing) this.pause(); else this.play(); }

  seek(t) {
    for (const v of this.videos) {
      if (!v.duration) continue;
      v.currentTime = Math.min(t, Math.max(0, v.duration - 0.001));
    }
  }

  setRate(rate) {
    for (const v of this.videos) { v.playbackRate = rate; v.defaultPlaybackRate = rate; }
  }

  tick() {
    if (!this.alive) return;
    const lead = this.lead;
    if (lead && lead.duration) {
      const t = lead.currentTime;
      for (const v of this.videos) {
        if (v === lead || !v.duration || v.seeking) continue;
        const target = Math.min(t, v.duration - 0.001);
        if (Math.abs(v.currentTime - target) > 0.08) v.currentTime = target;
        if (this.playing && v.paused && t < v.duration - 0.05) v.play().catch(() => {});
      }
      if (!this.scrubbing) $("scrub").value = String(Math.round((t / lead.duration) * 1000));
      $("clock").textContent = `${t.toFixed(1)} s`;
    }
    requestAnimationFrame(this.tick);
  }

  stop() {
    this.alive = false;
    for (const v of this.videos) v.pause();
  }
}

// ---------------------------------------------------------------- the query flow
function nextUrl(exclude) {
  const q = new URLSearchParams({ annotator: state.annotator });
  if (exclude.length) q.set("exclude", exclude.join(","));
  return `/api/next?${q}`;
}

async function fetchNext() {
  clearTimeout(state.pollTimer);
  if (!state.annotator) {
    showWaiting("Enter your name (top right) to start labelling.");
    return;
  }
  if (!state.current) $("waiting") && ($("waiting").textContent = "Loading the next query…");
  const who = state.annotator;
  const r = await api(nextUrl([]));
  if (who !== state.annotator) return;  // the name changed meanwhile; that call restarts us
  if (r.status === 200) {
    showView(buildView(r.body));
    requestUpcoming();
  } else if (r.status === 204) {
    showWaiting("No query waiting. New queries appear here as the trainer asks them…");
    state.pollTimer = setTimeout(fetchNext, state.info.poll_ms);
  } else {
    showWaiting(`Could not load a query: ${r.body.error}. Retrying…`);
    state.pollTimer = setTimeout(fetchNext, state.info.poll_ms * 3);
  }
}

// Asks for the query after the current one, so its clips are encoded and loaded while the
// annotator looks at this one.
function requestUpcoming() {
  const current = state.current;
  if (state.upcoming) state.upcoming.then(discard);
  state.upcoming = (async () => {
    const r = await api(nextUrl([current.payload.query.id]));
    return r.status === 200 ? buildView(r.body) : null;
  })();
}

async function advance() {
  const upcoming = state.upcoming;
  state.upcoming = null;
  const view = upcoming ? await upcoming : null;
  if (view) {
    showView(view);
    requestUpcoming();
  } else {
    await fetchNext();
  }
}

async function choose(label) {
  if (!state.current || state.busy) return;
  if (!state.annotator) { $("annotator").focus(); return; }
  const p = state.current.payload;
  const key = `${p.query.id}:${label}:${state.annotator}`;
  if (!state.pending || state.pending.key !== key) state.pending = { key, id: newClientId() };
  state.busy = true;
  setStatus("saving…");
  const r = await post("/api/label", {
    query_id: p.query.id, label, annotator: state.annotator, client_label_id: state.pending.id,
  });
  state.busy = false;
  if (r.status === 200) {
    state.pending = null;
    showCounts(r.body.counts);
    setStatus(`saved: ${LABEL_TEXT[label]} on query #${p.query.id}`, "ok");
    await advance();
  } else if (r.status === 409) {
    state.pending = null;  // answered before (another tab): move on
    setStatus(r.body.error, "bad");
    await advance();
  } else if (r.status === 0) {
    setStatus(`not saved (${r.body.error}); press the key again to retry`, "bad");
  } else {
    state.pending = null;
    setStatus(`not saved: ${r.body.error}`, "bad");
  }
}

async function undo() {
  if (state.busy || !state.annotator) return;
  state.busy = true;
  const r = await post("/api/undo", { annotator: state.annotator });
  if (r.status !== 200) {
    state.busy = false;
    setStatus(`undo failed: ${r.body.error}`, "bad");
    return;
  }
  showCounts(r.body.counts);
  if (!r.body.undone) {
    state.busy = false;
    setStatus("nothing to undo", "bad");
    return;
  }
  const undone = r.body.undone;
  const q = await api(`/api/query/${undone.query_id}`);
  state.busy = false;
  setStatus(`undone: ${LABEL_TEXT[undone.label]} on query #${undone.query_id}`, "ok");
  if (q.status !== 200) { await fetchNext(); return; }
  // The query on screen becomes the upcoming one again (its videos are loaded already).
  const previous = state.current;
  if (state.upcoming) state.upcoming.then(discard);
  state.upcoming = null;
  if (previous) {
    if (state.player) state.player.stop();
    state.player = null;
    state.current = null;
    for (const v of previous.videos) v.pause();
    $("preload").appendChild(previous.el);
    state.upcoming = Promise.resolve(previous);
  }
  clearTimeout(state.pollTimer);
  showView(buildView(q.body));
  if (!previous) requestUpcoming();
}

// ---------------------------------------------------------------- annotator name
function setAnnotator(name) {
  name = name.trim();
  $("annotator").value = name;
  $("annotator").classList.toggle("missing", !name);
  if (name === state.annotator) return;
  state.annotator = name;
  state.pending = null;
  if (name) localStorage.setItem(NAME_KEY, name);
  if (state.upcoming) state.upcoming.then(discard);
  state.upcoming = null;
  fetchNext();
}

// ---------------------------------------------------------------- input
const KEY_ACTIONS = {};

function bindKeys(keys) {
  for (const [action, names] of Object.entries(keys)) {
    for (const name of names) KEY_ACTIONS[name.length === 1 ? name.toLowerCase() : name] = action;
  }
}

function onKey(e) {
  const tag = e.target.tagName;
  if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") {
    if (e.key === "Enter" || e.key === "Escape") e.target.blur();
    return;
  }
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const action = KEY_ACTIONS[key];
  if (!action) return;
  e.preventDefault();  // space and arrows would scroll the page
  if (e.repeat) return;  // a held key labels once
  if (action === "undo") undo();
  else if (action === "play") { if (state.player) state.player.toggle(); }
  else choose(action);
}

async function main() {
  const r = await api("/api/info");
  if (r.status !== 200) {
    showWaiting(`Cannot reach the label server: ${r.body.error}`);
    return;
  }
  state.info = r.body;
  bindKeys(state.info.keys);
  $("run").textContent = state.info.run;
  if (state.info.description) $("description").textContent = state.info.description;
  $("task-name").textContent = state.info.task;

  document.addEventListener("keydown", onKey);
  for (const b of document.querySelectorAll("#choices button[data-label]")) {
    b.addEventListener("click", () => { b.blur(); choose(b.dataset.label); });
  }
  $("undo").addEventListener("click", () => { $("undo").blur(); undo(); });
  $("play").addEventListener("click", () => { if (state.player) state.player.toggle(); });
  $("restart").addEventListener("click", () => { if (state.player) state.player.seek(0); });
  $("speed").addEventListener("change", () => {
    state.rate = Number($("speed").value);
    if (state.player) state.player.setRate(state.rate);
    $("speed").blur();
  });
  const scrub = $("scrub");
  scrub.addEventListener("pointerdown", () => { if (state.player) state.player.scrubbing = true; });
  scrub.addEventListener("pointerup", () => { if (state.player) state.player.scrubbing = false; });
  scrub.addEventListener("input", () => {
    const p = state.player;
    if (p && p.lead && p.lead.duration) p.seek((Number(scrub.value) / 1000) * p.lead.duration);
  });
  $("annotator").addEventListener("change", () => setAnnotator($("annotator").value));
  setInterval(async () => {
    const c = await api("/api/counts");
    if (c.status === 200) showCounts(c.body);
  }, 2000);

  setAnnotator(localStorage.getItem(NAME_KEY) || state.info.annotator || "");
  if (!state.annotator) fetchNext();
}

main();
