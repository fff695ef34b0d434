// Shared by the dashboard's modules: the API client, formatting, and rows updated in place.
// Every text from the server goes in through textContent, never as HTML.
"use strict";

const REFRESH_MS = 2000;
const STATES = ["ready", "scheduled", "retrying", "running", "succeeded", "dead", "cancelled"];
const $ = (id) => document.getElementById(id);

// With BROKER_AUTH on, the API wants an admin key: asked for once (not again if declined, until
// the page reloads), kept for this tab only. Parallel polls share the answer.
const TOKEN_KEY = "broker-api-key";
let declined = false;

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function api(path, body, retried) {
  const headers = body === undefined ? {} : { "Content-Type": "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = body === undefined ? { headers } : { method: "POST", headers, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && !retried && !declined) {
    if (sessionStorage.getItem(TOKEN_KEY) === token) {
      const given = window.prompt("This broker needs an API key with the admin role:");
      if (given && given.trim()) sessionStorage.setItem(TOKEN_KEY, given.trim());
      else declined = true;
    }
    if (!declined) return api(path, body, true);
  }
  if (!response.ok) throw new ApiError(data.error || `${response.status} ${response.statusText}`, response.status);
  return data;
}

// An endpoint this broker does not have yet (an older broker): null instead of an error.
async function optional(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err.status === 404 || err.status === 405) return null;
    throw err;
  }
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "on") for (const [name, fn] of Object.entries(v)) node.addEventListener(name, fn);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function button(text, cls, onClick) {
  return el("button", { type: "button", textContent: text, className: cls || "", on: { click: onClick } });
}

// Changes a node's text only when it differs, so a reader's selection and the node survive.
function setText(node, text) {
  text = text === null || text === undefined ? "" : String(text);
  if (node.textContent !== text) node.textContent = text;
}

function setAttr(node, name, value) {
  if (value === null || value === undefined || value === false) node.removeAttribute(name);
  else if (node.getAttribute(name) !== String(value)) node.setAttribute(name, value);
}

// Rows keyed by `key(item)`: kept, updated by `update(tr, item)` (which sets only what changed),
// added when new (`build(item)` then update), removed when gone; moved only when out of order.
// `after(tr)` names a companion row (an expanded error) that travels with its row.
function syncRows(tbody, items, key, build, update, after) {
  const companions = (tr) => (after ? after(tr) : []);
  const wanted = new Set(items.map((item) => String(key(item))));
  const existing = new Map();
  for (const tr of tbody.querySelectorAll(":scope > tr[data-key]")) {
    if (wanted.has(tr.dataset.key)) existing.set(tr.dataset.key, tr);
    else { for (const node of companions(tr)) node.remove(); tr.remove(); }
  }
  let cursor = tbody.firstElementChild;
  for (const item of items) {
    const k = String(key(item));
    let tr = existing.get(k);
    if (!tr) {
      tr = build(item);
      tr.dataset.key = k;
    }
    update(tr, item);
    for (const node of [tr, ...companions(tr)]) {
      if (node !== cursor) tbody.insertBefore(node, cursor);
      else cursor = cursor.nextElementSibling;
    }
  }
}

// A row of cells named by field: the row's `cells.<field>` for updates.
function fieldRow(fields) {
  const tr = document.createElement("tr");
  tr.cells_ = {};
  for (const [field, cls] of fields) {
    const td = el("td", { className: cls || "", dataset: { field } });
    tr.cells_[field] = td;
    tr.appendChild(td);
  }
  return tr;
}

// A table's refresh waits while the pointer is over it or one of its rows is expanded, so rows
// do not move under the reader; `hold.render()` runs the last update withheld when it ends. An
// operator's own action (`force`) shows its outcome at once.
function holdWhileReading(box) {
  const hold = { hovered: false, expanded: 0, pending: null };
  hold.busy = () => hold.hovered || hold.expanded > 0;
  hold.show = (render, force) => {
    if (hold.busy() && !force) hold.pending = render;
    else { hold.pending = null; render(); }
    box.classList.toggle("held", hold.busy());
  };
  hold.render = () => {
    box.classList.toggle("held", hold.busy());
    if (!hold.busy() && hold.pending) { const r = hold.pending; hold.pending = null; r(); }
  };
  // A touch is no hover (and its pointerleave may never come): only a mouse or pen holds.
  box.addEventListener("pointerenter", (e) => {
    if (e.pointerType === "touch") return;
    hold.hovered = true;
    box.classList.add("held");
  });
  box.addEventListener("pointerleave", () => { hold.hovered = false; hold.render(); });
  return hold;
}

function age(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  const hours = Math.floor(seconds / 3600);
  return hours < 48 ? `${hours}h ${Math.floor((seconds % 3600) / 60)}m` : `${Math.floor(hours / 24)}d`;
}

function since(iso, now) {
  return iso ? age((now - Date.parse(iso)) / 1000) + " ago" : "";
}

function until(iso, now) {
  return iso ? "in " + age((Date.parse(iso) - now) / 1000) : "–";
}

// "2026-12-01 15:20:17 UTC" from the API's ISO 8601 (empty for none).
function stamp(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "";
}

function percent(rate) {
  return (rate * 100).toFixed(rate > 0 && rate < 0.1 ? 1 : 0) + "%";
}

function count(n) {
  return Number(n).toLocaleString("en-US");
}

function firstLine(text) {
  return (text || "").split("\n", 1)[0];
}

// "40% 4 of 10 files" (empty without progress).
function progressText(p) {
  return p ? `${Math.round(p.fraction * 1000) / 10}% ${p.message}`.trim() : "";
}

function jobLink(id) {
  return el("a", { href: `#/jobs/${id}`, className: "job-link", textContent: id.slice(0, 8), title: id });
}

// A confirmation in the page (not window.confirm): resolves true when the operator agrees.
function confirmAction(message, yes) {
  const dialog = $("confirm");
  setText($("confirm-text"), message);
  setText($("confirm-yes"), yes || "Confirm");
  dialog.hidden = false;
  $("confirm-yes").focus();
  return new Promise((resolve) => {
    const onKey = (e) => { if (e.key === "Escape") { e.stopImmediatePropagation(); done(false); } };
    const done = (answer) => {
      dialog.hidden = true;
      $("confirm-yes").onclick = $("confirm-no").onclick = null;
      document.removeEventListener("keydown", onKey, true);
      resolve(answer);
    };
    document.addEventListener("keydown", onKey, true);
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
  });
}

// Runs an action, says what came of it in the status line, then refreshes everything at once.
async function act(label, call) {
  try {
    const result = await call();
    setText($("action-result"), label(result));
  } catch (err) {
    const missing = err.status === 404 && err.message.startsWith("404 ");  // no such route: an older broker
    setText($("action-result"), missing ? "failed: this broker does not offer that action" : `failed: ${err.message}`);
  }
  await Dashboard.refresh(true);
}
