/*
 * /manage: collections, documents, indexing jobs, keys and feedback review, in the browser.
 *
 * Every action is a call to the HTTP API (docs/operations.md) with the key the user signed in with, so the
 * page can never do more than the key: it only hides what GET /v1/keys/me says the role does not allow.
 * The key is kept in this tab's sessionStorage and sent as `Authorization: Bearer`, never in a URL.
 * All server text is inserted as text nodes, never parsed as HTML; the page's CSP allows no inline script.
 */
import { CODES, STRINGS } from "./manage-i18n.js";

const CONFIG = {
  pollMs: 1000,          // job progress refresh while a job is queued or running
  jobsShown: 50,         // newest jobs listed (and polled)
  feedbackShown: 200,    // feedback records per page
  toastMs: 6000,         // how long a confirmation stays on screen
  keyStorage: "notesqa:api-key",  // shared with the viewer and /documents, so their links open under keys
  langStorage: "notesqa.manage.lang",
};
const ACCEPT = ".txt,.md,.jsonl,.docx,.pdf";
const ROLES = ["public", "reader", "editor", "admin"];
const ACTIVE = new Set(["queued", "running"]);
const BASE = location.pathname.replace(/\/manage\/?$/, "");

const state = {
  lang: "zh",
  key: "",
  me: null,
  tab: "collections",
  collections: [],
  current: null,            // the collection shown in Documents
  documents: null,          // {collection, stored: [...] | null, indexed: [...]}
  paragraphs: null,         // {collection, doc}
  uploads: [],              // {id, collection, name, size, status, message, job}
  jobs: new Map(),          // id -> job (newest first, as the API lists them)
  jobsFilter: "",
  pollTimer: null,
  keys: [],
  created: null,            // {key, token}: shown once
  feedback: null,           // {feedback, total}
  feedbackRequest: 0,       // the latest feedback request: an older answer arriving later is dropped
  feedbackFilter: { collection: "", rating: "", reviewed: "" },
};

// --- words ------------------------------------------------------------------------------------------

function t(name, ...args) {
  const value = STRINGS[state.lang][name] ?? STRINGS.zh[name] ?? name;
  return typeof value === "function" ? value(...args) : value;
}

function applyStatic() {
  document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
  document.title = `${t("title")} · NotesQA`;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  document.querySelectorAll("[data-i18n-label]").forEach((node) => {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  });
  const lang = byId("lang");
  lang.textContent = t("lang.switch");
  lang.setAttribute("aria-label", t("lang.label"));
  lang.setAttribute("lang", t("lang.code"));
  byId("confirm-cancel").textContent = t("cancel");
}

// --- DOM ---------------------------------------------------------------------------------------------

function byId(id) { return document.getElementById(id); }

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));  // strings become text nodes
  }
  return node;
}

// the focused control, told apart from its neighbours by what a user sees of it
function focusKey(element) {
  return [element.tagName, element.name, element.getAttribute("aria-label"), element.id,
          element.tagName === "BUTTON" ? element.textContent.trim() : ""].join("|");
}

// replaces a panel's content; a control that had the focus gets it back in the new content
function fill(node, ...children) {
  const active = document.activeElement;
  const key = active && active !== node && node.contains(active) ? focusKey(active) : null;
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  if (key) {
    const again = [...node.querySelectorAll("button, input, select, textarea, a[href]")].find((e) => focusKey(e) === key);
    if (again) again.focus({ preventScroll: true });
  }
  return node;
}

// a form keeps what the user typed while the panel around it is drawn again (a job ends, the list reloads)
const forms = new Map();
function memo(name, deps, build) {
  const signature = JSON.stringify([state.lang, deps]);
  const kept = forms.get(name);
  if (kept && kept.signature === signature) return kept.node;
  const node = build();
  forms.set(name, { signature, node });
  return node;
}

// the widget's thumbs (service/web/widget.js), so that a rating reads the same without an emoji font
const ICONS = {
  up: "M2 10h4v11H2zm6 11h9.2a2 2 0 0 0 2-1.6l1.7-7.4A2 2 0 0 0 19 9.5h-5.3l.8-4.1a1.7 1.7 0 0 0-3-1.4L8 8.6z",
  down: "M22 14h-4V3h4zm-6-11H6.8a2 2 0 0 0-2 1.6l-1.7 7.4A2 2 0 0 0 5 14.5h5.3l-.8 4.1a1.7 1.7 0 0 0 3 1.4l3.5-4.6z",
};

function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

let uid = 0;
function nextId(prefix) { uid += 1; return `${prefix}-${uid}`; }

function field(label, control, hint) {
  const id = control.id || (control.id = nextId("f"));
  const hintNode = hint ? h("p", { class: "hint", id: `${id}-hint`, text: hint }) : null;
  if (hintNode) control.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id, text: label }), control, hintNode);
}

function select(options, value, attrs) {
  const node = h("select", attrs);
  for (const [optionValue, label] of options) {
    const option = h("option", { value: optionValue, text: label });
    if (optionValue === value) option.selected = true;
    node.append(option);
  }
  return node;
}

// a table that becomes a list of cards on a narrow screen: each cell carries its column's name
function table(caption, columns, rows, attrs) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "grid", ...attrs },
      h("caption", { class: "sr-only", text: caption }),
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", text: c })))),
      h("tbody", null, rows.map((row) => h("tr", row.attrs || null,
        row.cells.map((cell, i) => h("td", { "data-label": columns[i] }, h("div", { class: "cell" }, cell))))))));
}

function fmtBytes(n) {
  if (n === null || n === undefined) return t("none");
  const units = ["B", "KiB", "MiB", "GiB"];
  let value = n, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(value < 10 ? 1 : 0).replace(/\.0$/, "") : value} ${units[unit]}`;
}

function fmtTime(value) {
  if (!value) return t("none");
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(state.lang === "en" ? "en-GB" : "zh-CN", { dateStyle: "medium", timeStyle: "short" });
}

function toast(message) {
  const node = byId("toast");
  node.textContent = message;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.textContent = ""; }, CONFIG.toastMs);
}

function alertError(message) {
  const node = byId("alert");
  node.textContent = message;
  clearTimeout(alertError.timer);
  alertError.timer = setTimeout(() => { node.textContent = ""; }, CONFIG.toastMs * 2);
}

function confirmDialog(title, text, okLabel) {
  const dialog = byId("confirm");
  byId("confirm-title").textContent = title;
  byId("confirm-text").textContent = text;
  const ok = byId("confirm-ok"), cancel = byId("confirm-cancel");
  ok.textContent = okLabel;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener("click", yes);
      cancel.removeEventListener("click", no);
      dialog.removeEventListener("close", no);
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    ok.addEventListener("click", yes);
    cancel.addEventListener("click", no);
    dialog.addEventListener("close", no);  // Escape
    dialog.showModal();
    cancel.focus();  // the safe choice has the focus
  });
}

async function copyText(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("copied"));
  } catch {
    if (input) { input.focus(); input.select(); }
    alertError(t("copyFailed"));
  }
}

// --- the API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function describe(error) {
  if (!(error instanceof ApiError)) return t("err.network");
  if (error.code === "network") return t("err.network");
  const words = CODES[state.lang][error.code] || t("err.status", error.status);
  if (!error.detail || error.detail === words) return words;
  return state.lang === "en" ? `${words} (${error.detail})` : `${words}（${error.detail}）`;
}

async function api(path, { method = "GET", body, form, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (!response.ok) {
    let data = {};
    try { data = await response.json(); } catch { /* not JSON: the status says it */ }
    const error = new ApiError(response.status, data.code || `http_${response.status}`, data.message || "");
    if (response.status === 401 && state.me) expire();
    throw error;
  }
  return raw ? response : response.json();
}

const enc = encodeURIComponent;

// --- who is signed in ---------------------------------------------------------------------------------

function can(action, collection) {
  const me = state.me;
  if (!me || !me.actions.includes(action)) return false;
  return collection === undefined || me.collections.includes("*") || me.collections.includes(collection);
}

function roleName(role) { return t(`role.${role}`); }

function collectionByName(name) { return state.collections.find((c) => c.name === name) || null; }

function managed(name) {
  const c = collectionByName(name);
  return Boolean(c && !c.default);
}

async function signIn(key, quiet) {
  state.key = key;
  const error = byId("signin-error");
  error.textContent = "";
  try {
    state.me = await api("/v1/keys/me");
  } catch (err) {
    state.key = "";
    state.me = null;
    sessionStorage.removeItem(CONFIG.keyStorage);
    if (!quiet) {
      error.textContent = err.status === 401 ? (key ? t("signin.bad") : t("signin.needKey")) : describe(err);
      byId("key-input").focus();
    }
    return;
  }
  if (key) sessionStorage.setItem(CONFIG.keyStorage, key);
  else sessionStorage.removeItem(CONFIG.keyStorage);
  byId("key-input").value = "";
  showConsole();
}

function signOut(message) {
  clearTimeout(state.pollTimer);
  Object.assign(state, { key: "", me: null, collections: [], current: null, documents: null, paragraphs: null,
                         uploads: [], jobs: new Map(), keys: [], created: null, feedback: null, pollTimer: null,
                         jobsFilter: "", feedbackFilter: { collection: "", rating: "", reviewed: "" } });
  forms.clear();  // nothing typed for one key is left for the next
  sessionStorage.removeItem(CONFIG.keyStorage);
  byId("console").hidden = true;
  byId("signout").hidden = true;
  byId("who").hidden = true;
  byId("signin").hidden = false;
  byId("signin-error").textContent = message || "";
  document.querySelectorAll(".panel").forEach((panel) => panel.replaceChildren());
  byId("key-input").focus();
}

function expire() { signOut(t("signin.expired")); }

function showConsole() {
  byId("signin").hidden = true;
  byId("console").hidden = false;
  byId("signout").hidden = false;
  renderWho();
  document.querySelectorAll("[role=tab]").forEach((tab) => {
    tab.hidden = Boolean(tab.dataset.needs) && !can(tab.dataset.needs);
  });
  selectTab("collections", false);
  byId("tab-collections").focus();
  loadCollections();
  loadJobs();
}

function renderWho() {
  const me = state.me;
  if (!me) return;
  const who = byId("who");
  who.hidden = false;
  who.textContent = me.open ? t("who.open") : t("who", me.name, roleName(me.role));
  byId("open-note").hidden = !me.open;
}

// --- tabs ----------------------------------------------------------------------------------------------

const LOADERS = {
  collections: () => loadCollections(),
  documents: () => loadDocuments(),
  jobs: () => loadJobs(),
  keys: () => loadKeys(),
  feedback: () => loadFeedback(),
};

function visibleTabs() { return [...document.querySelectorAll("[role=tab]")].filter((tab) => !tab.hidden); }

function selectTab(name, load = true) {
  state.tab = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    byId(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  render(name);
  if (load) LOADERS[name]();
}

function onTabKey(event) {
  const tabs = visibleTabs();
  const at = tabs.indexOf(document.activeElement);
  if (at < 0) return;
  const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 };
  if (!(event.key in moves)) return;
  event.preventDefault();
  const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
  next.focus();
  selectTab(next.dataset.tab);
}

function render(name) {
  if (!state.me) return;
  ({ collections: renderCollections, documents: renderDocuments, jobs: renderJobs, keys: renderKeys,
     feedback: renderFeedback })[name]();
}

function panel(name) { return byId(`panel-${name}`); }

function loadingNote() { return h("p", { class: "muted", role: "status", text: t("loading") }); }

function errorNote(error) { return h("p", { class: "error", role: "alert", text: describe(error) }); }

// --- collections -----------------------------------------------------------------------------------------

async function loadCollections() {
  try {
    state.collections = (await api("/v1/collections")).collections;
    state.collectionsError = null;
  } catch (err) {
    state.collectionsError = err;
  }
  if (!state.current || !collectionByName(state.current)) {
    const first = state.collections.find((c) => !c.default) || state.collections[0];
    state.current = first ? first.name : null;
  }
  if (["collections", "documents"].includes(state.tab)) render(state.tab);
  if (state.tab === "documents" && state.current && state.documents?.collection !== state.current) loadDocuments();
}

function stateBadge(c) {
  return h("span", { class: `badge state-${c.state}`, text: t(`state.${c.state}`) });
}

function renderCollections() {
  const node = panel("collections");
  const parts = [h("h2", { text: t("col.title") })];
  if (state.collectionsError) parts.push(errorNote(state.collectionsError));
  if (can("admin")) parts.push(memo("collection", null, createCollectionForm));
  if (!state.collections.length && !state.collectionsError) parts.push(h("p", { class: "muted", text: t("col.empty") }));
  else {
    const columns = [t("col.name"), t("col.state"), t("col.documents"), t("col.paragraphs"), t("col.snapshot"),
                     t("col.pending"), t("col.actions")];
    parts.push(table(t("col.caption"), columns, state.collections.map((c) => ({
      attrs: { "data-collection": c.name },
      cells: [
        [h("strong", { text: c.name }), c.default ? h("span", { class: "badge", text: t("col.default") }) : null,
         c.description ? h("div", { class: "muted small", text: c.description }) : null],
        [stateBadge(c), c.error ? h("div", { class: "error small", text: c.error }) : null],
        String(c.documents), String(c.paragraphs), fmtTime(c.built_at), String(c.pending_jobs),
        h("button", { type: "button", class: "link", text: t("col.open"), "aria-label": t("col.openLabel", c.name),
                      onclick: () => openDocuments(c.name) }),
      ],
    }))));
  }
  fill(node, parts);
}

function createCollectionForm() {
  const name = h("input", { name: "name", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9_-]{0,63}",
                            autocomplete: "off", spellcheck: "false" });
  const description = h("input", { name: "description", maxlength: 500, autocomplete: "off" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "inline-form", "aria-labelledby": "create-collection-title", novalidate: true },
    h("h3", { id: "create-collection-title", text: t("create.title") }),
    h("div", { class: "row" }, field(t("create.name"), name, t("create.nameHint")),
      field(t("create.description"), description),
      h("button", { type: "submit", class: "primary", text: t("create.submit") })),
    error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const created = await api("/v1/collections", { method: "POST",
        body: { name: name.value.trim(), description: description.value.trim() } });
      toast(t("create.done", created.name));
      form.reset();
      state.current = created.name;
      await loadCollections();
    } catch (err) {
      error.textContent = describe(err);
      name.focus();
    }
  });
  return form;
}

function openDocuments(name) {
  state.current = name;
  state.paragraphs = null;
  selectTab("documents");
  byId("tab-documents").focus();
}

// --- documents -----------------------------------------------------------------------------------------

async function loadDocuments() {
  const name = state.current;
  if (!name) { render("documents"); return; }
  if (!state.documents || state.documents.collection !== name) {
    state.documents = { collection: name, stored: null, indexed: null, error: null };
    render("documents");
  }
  const indexed = api(`/v1/documents?collection=${enc(name)}`).then((r) => r.documents).catch((err) => {
    if (["collection_empty", "collection_unavailable"].includes(err.code)) return [];
    throw err;
  });
  const stored = managed(name) ? api(`/v1/collections/${enc(name)}/documents`).then((r) => r.documents)
    : Promise.resolve(null);
  try {
    const [storedDocs, indexedDocs] = await Promise.all([stored, indexed]);
    if (state.current !== name) return;
    state.documents = { collection: name, stored: storedDocs, indexed: indexedDocs, error: null };
  } catch (err) {
    if (state.current !== name) return;
    state.documents = { collection: name, stored: null, indexed: null, error: err };
  }
  render("documents");
}

function uploadLimit() {
  const c = collectionByName(state.current);
  return c ? c.max_upload_bytes : null;
}

function renderDocuments() {
  const node = panel("documents");
  const parts = [h("h2", { text: t("docs.title") })];
  if (!state.collections.length) {
    parts.push(state.collectionsError ? errorNote(state.collectionsError) : h("p", { class: "muted", text: t("col.empty") }));
    fill(node, parts);
    return;
  }
  const picker = select(state.collections.map((c) => [c.name, c.default ? `${c.name} (${t("col.default")})` : c.name]),
                        state.current, { name: "collection" });
  picker.addEventListener("change", () => { state.current = picker.value; state.paragraphs = null; loadDocuments(); });
  parts.push(h("div", { class: "row toolbar" }, field(t("docs.collection"), picker),
    h("button", { type: "button", text: t("refresh"), onclick: () => { loadCollections(); loadDocuments(); } })));
  const c = collectionByName(state.current);
  if (c) parts.push(h("p", { class: "summary" }, stateBadge(c), " ", t("docs.summary", c)));
  const writable = c && !c.default && can("write", c.name);
  if (c && c.default) parts.push(h("p", { class: "note", text: t("docs.readonly") }));
  if (writable) parts.push(dropZone());
  const uploads = state.uploads.filter((u) => u.collection === state.current);
  if (uploads.length) {
    parts.push(h("ul", { class: "uploads", "aria-label": t("upload.list") }, uploads.map(uploadItem)));
  }
  const docs = state.documents && state.documents.collection === state.current ? state.documents : null;
  if (!docs || (docs.indexed === null && !docs.error)) parts.push(loadingNote());
  else if (docs.error) parts.push(errorNote(docs.error));
  else parts.push(documentsTable(docs, writable));
  if (state.paragraphs && state.paragraphs.collection === state.current) parts.push(paragraphsView());
  fill(node, parts);
}

function documentsTable(docs, writable) {
  const counts = new Map(docs.indexed.map((d) => [d.doc_id, d]));
  if (docs.stored === null) {  // the default collection: what its index holds
    if (!docs.indexed.length) return h("p", { class: "muted", text: t("docs.empty") });
    const columns = [t("doc.title"), t("doc.paragraphs"), t("doc.actions")];
    return table(t("docs.caption", docs.collection), columns, docs.indexed.map((d) => ({
      attrs: { "data-doc": d.doc_id },
      cells: [[h("strong", { text: d.title || d.doc_id }), h("div", { class: "muted small mono", text: d.doc_id })],
              String(d.paragraphs), paragraphsButton(d.doc_id, d.title || d.doc_id)],
    })));
  }
  if (!docs.stored.length) return h("p", { class: "muted", text: t("docs.empty") });
  const columns = [t("doc.title"), t("doc.file"), t("doc.format"), t("doc.size"), t("doc.paragraphs"),
                   t("doc.indexed"), t("doc.actions")];
  return table(t("docs.caption", docs.collection), columns, docs.stored.map((d) => {
    const title = d.title || d.doc_id;
    const shown = counts.get(d.doc_id);
    return {
      attrs: { "data-doc": d.doc_id },
      cells: [
        [h("strong", { text: title }), h("div", { class: "muted small mono", text: d.doc_id })],
        d.filename, d.format, fmtBytes(d.size), shown ? String(shown.paragraphs) : t("none"),
        d.indexed ? t("doc.yes") : h("span", { class: "badge state-queued", text: t("doc.pending") }),
        h("div", { class: "actions" },
          shown ? paragraphsButton(d.doc_id, title) : null,
          writable ? replaceButton(d, title) : null,
          writable ? h("button", { type: "button", class: "danger", text: t("doc.delete"),
                                   "aria-label": t("doc.actionLabel", t("doc.delete"), title),
                                   onclick: () => deleteDocument(d, title) }) : null),
      ],
    };
  }));
}

function paragraphsButton(docId, title) {
  return h("button", { type: "button", text: t("doc.showParagraphs"),
                       "aria-label": t("doc.actionLabel", t("doc.showParagraphs"), title),
                       onclick: () => showParagraphs(docId) });
}

function replaceButton(doc, title) {
  const input = h("input", { type: "file", accept: ACCEPT, hidden: true, tabindex: -1 });
  input.addEventListener("change", () => {
    const [file] = input.files;
    input.value = "";
    if (file) sendFile(file, doc.doc_id);
  });
  const button = h("button", { type: "button", text: t("doc.replace"),
                               "aria-label": t("doc.actionLabel", t("doc.replace"), title),
                               onclick: () => input.click() });
  return [button, input];
}

function dropZone() {
  const limit = uploadLimit();
  const input = h("input", { type: "file", accept: ACCEPT, multiple: true, hidden: true, tabindex: -1,
                             id: "upload-input" });
  input.addEventListener("change", () => {
    const files = [...input.files];
    input.value = "";
    uploadFiles(files);
  });
  const zone = h("div", { class: "dropzone", id: "dropzone", role: "group", "aria-label": t("drop.label"),
                          "aria-describedby": "drop-hint" },
    h("p", null, t("drop.text"), " ",
      h("button", { type: "button", class: "primary", text: t("drop.pick"), onclick: () => input.click() })),
    h("p", { class: "hint", id: "drop-hint", text: t("drop.hint", fmtBytes(limit)) }),
    input);
  const over = (event) => {
    if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
    event.preventDefault();
    zone.classList.add("over");
  };
  zone.addEventListener("dragenter", over);
  zone.addEventListener("dragover", over);
  zone.addEventListener("dragleave", (event) => { if (!zone.contains(event.relatedTarget)) zone.classList.remove("over"); });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    uploadFiles([...(event.dataTransfer?.files || [])]);
  });
  return zone;
}

function uploadItem(upload) {
  const status = upload.job ? jobView(upload.job)
    : h("p", { class: upload.status === "sending" ? "muted" : "error", role: upload.status === "sending" ? null : "alert",
               text: upload.message });
  return h("li", { class: "upload", "data-upload": upload.name, "data-status": upload.status },
    h("span", { class: "upload-name" }, h("strong", { text: upload.name }), " ",
      h("span", { class: "muted small", text: fmtBytes(upload.size) })),
    status);
}

async function uploadFiles(files) {
  for (const file of files) await sendFile(file, null);  // one at a time: each answer names its job
}

async function sendFile(file, replaceId) {
  const collection = state.current;
  const limit = uploadLimit();
  const upload = { id: nextId("u"), collection, name: file.name, size: file.size, status: "sending",
                   message: t("upload.sending"), job: null };
  state.uploads = [upload, ...state.uploads.filter((u) => !(u.collection === collection && u.name === file.name))];
  if (limit && file.size > limit) {  // the service would refuse it (413): do not send it at all
    Object.assign(upload, { status: "refused", message: t("upload.tooLarge", file.name, fmtBytes(file.size), fmtBytes(limit)) });
    render("documents");
    return;
  }
  render("documents");
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const path = replaceId ? `/v1/collections/${enc(collection)}/documents/${enc(replaceId)}`
      : `/v1/collections/${enc(collection)}/documents`;
    const accepted = await api(path, { method: replaceId ? "PUT" : "POST", form });
    Object.assign(upload, { status: "accepted", job: accepted.job });
    trackJob(accepted.job);
    if (replaceId) toast(t("upload.replaced", file.name));
  } catch (err) {
    Object.assign(upload, { status: "failed", message: t("upload.failed") + describe(err) });
  }
  if (state.current === collection) await loadDocuments();
}

async function deleteDocument(doc, title) {
  if (!await confirmDialog(t("doc.confirmDelete", title), t("doc.confirmDeleteText"), t("doc.delete"))) return;
  try {
    const accepted = await api(`/v1/collections/${enc(state.current)}/documents/${enc(doc.doc_id)}`,
                               { method: "DELETE" });
    trackJob(accepted.job);
    toast(t("doc.deleted", title));
    if (state.paragraphs && state.paragraphs.doc.doc_id === doc.doc_id) state.paragraphs = null;
  } catch (err) {
    alertError(describe(err));
  }
  await loadDocuments();
}

async function showParagraphs(docId) {
  const collection = state.current;
  try {
    const query = managed(collection) ? `?collection=${enc(collection)}` : "";
    const doc = await api(`/v1/documents/${enc(docId)}${query}`);
    state.paragraphs = { collection, doc };
    render("documents");
    const heading = byId("paragraphs-title");
    if (heading) heading.focus();
  } catch (err) {
    alertError(describe(err));
  }
}

function viewerLink(collection, docId, paragraphId) {
  const query = managed(collection) ? `?collection=${enc(collection)}` : "";
  return `${BASE}/documents/${enc(docId)}${query}#${enc(paragraphId)}`;
}

function paragraphsView() {
  const { collection, doc } = state.paragraphs;
  return h("section", { class: "paragraphs", "aria-labelledby": "paragraphs-title" },
    h("div", { class: "row between" },
      h("h3", { id: "paragraphs-title", tabindex: -1, text: t("para.title", doc.title || doc.doc_id) }),
      h("button", { type: "button", text: t("close"), onclick: () => { state.paragraphs = null; render("documents"); } })),
    h("p", { class: "muted", text: t("para.count", doc.paragraphs.length) }),
    h("ol", { class: "para-list" }, doc.paragraphs.map((p) => h("li", { "data-paragraph": p.paragraph_id,
                                                                       "data-kind": p.kind },
      h("div", { class: "para-meta" },
        h("span", { class: "badge", text: t(`kind.${p.kind}`) }),
        p.paragraph_number ? h("span", { text: t("para.number", p.paragraph_number) }) : null,
        p.section ? h("span", { class: "muted", text: p.section }) : null,
        h("a", { href: viewerLink(collection, doc.doc_id, p.paragraph_id), text: t("para.open"),
                 "aria-label": t("para.openLabel", p.ordinal + 1) })),
      h("p", { class: "para-text", text: p.text })))));
}

// --- jobs ----------------------------------------------------------------------------------------------

async function loadJobs() {
  try {
    const { jobs } = await api(`/v1/jobs?limit=${CONFIG.jobsShown}`);
    mergeJobs(jobs);
    state.jobsError = null;
  } catch (err) {
    state.jobsError = err;
  }
  if (state.tab === "jobs") render("jobs");
  schedulePoll();
}

function trackJob(job) {
  state.jobs = new Map([[job.id, job], ...[...state.jobs].filter(([id]) => id !== job.id)]);  // newest first
  updateJobViews(job);
  schedulePoll();
}

// updates every view of a changed job; says whether one the page knew as queued or running has ended,
// and whether the list has jobs it did not show
function mergeJobs(jobs) {
  let ended = false, added = false;
  const merged = new Map(jobs.map((job) => [job.id, job]));
  for (const [id, job] of state.jobs) if (!merged.has(id)) merged.set(id, job);
  for (const job of jobs) {
    const before = state.jobs.get(job.id);
    if (before && ACTIVE.has(before.state) && !ACTIVE.has(job.state)) ended = true;
    if (!before) added = true;
    if (!before || JSON.stringify(before) !== JSON.stringify(job)) {
      state.jobs.set(job.id, job);
      updateJobViews(job);
    }
  }
  state.jobs = merged;
  return { ended, added };
}

function schedulePoll() {
  if (state.pollTimer || !state.me) return;
  if (![...state.jobs.values()].some((job) => ACTIVE.has(job.state))) return;
  state.pollTimer = setTimeout(pollJobs, CONFIG.pollMs);
}

async function pollJobs() {
  state.pollTimer = null;
  if (!state.me) return;
  try {
    const { jobs } = await api(`/v1/jobs?limit=${CONFIG.jobsShown}`);
    const { ended, added } = mergeJobs(jobs);
    if (ended) {  // a snapshot changed: counts, `indexed` and paragraphs with it
      await loadCollections();
      if (state.tab === "documents") await loadDocuments();
    }
    if (added && state.tab === "jobs") render("jobs");
  } catch {
    if (!state.me) return;  // signed out (a 401): stop
  }
  schedulePoll();
}

// every view of a job (the jobs list, an upload) shows its newest state
function updateJobViews(job) {
  for (const upload of state.uploads) if (upload.job && upload.job.id === job.id) upload.job = job;
  document.querySelectorAll(`[data-job="${CSS.escape(job.id)}"]`).forEach((node) => {
    const focused = node.contains(document.activeElement);
    const fresh = jobView(job);
    node.replaceWith(fresh);
    if (focused) (fresh.querySelector("button") || fresh).focus();
  });
}

function jobView(job) {
  const action = t(`action.${job.action}`);
  const doc = job.doc_id || job.collection;
  const parts = [h("div", { class: "job-head" },
    h("span", { class: `badge state-${job.state}`, text: t(`jstate.${job.state}`) }),
    h("strong", { text: `${action} ${doc}` }),
    h("span", { class: "muted small", text: `${job.collection} · ${t("job.times", fmtTime(job.created_at),
                                                                       job.finished_at && fmtTime(job.finished_at))}` }))];
  if (ACTIVE.has(job.state)) {
    const stage = t(`stage.${job.stage}`);
    parts.push(h("div", { class: "job-progress" },
      h("progress", { max: 100, value: Math.round(job.progress * 100), "aria-label": t("job.progress", action, doc),
                      "aria-valuetext": t("job.stage", stage, job.progress) }),
      h("span", { class: "stage", text: t("job.stage", stage, job.progress) })));
  }
  if (job.state === "failed") {
    parts.push(h("p", { class: "error", text: t("job.error", job.error || "") }));
    if (can("write", job.collection)) {
      parts.push(h("button", { type: "button", text: t("job.retry"), onclick: () => retryJob(job) }));
    }
  }
  if (job.state === "succeeded" && job.report) parts.push(jobReport(job.report));
  if (job.note) parts.push(h("p", { class: "muted small", text: job.note }));
  return h("div", { class: "job", "data-job": job.id, "data-state": job.state, "data-stage": job.stage }, parts);
}

function jobReport(report) {
  const skipped = report.skipped || [];
  return h("div", { class: "report" },
    h("p", { text: report.snapshot === null && !report.documents ? t("job.withdrawn") : t("job.report", report) }),
    skipped.length ? h("div", null, h("p", { text: t("job.skipped", skipped.length) }),
      h("ul", null, skipped.map((s) => h("li", null, h("span", { class: "mono", text: s.source }), ` — ${s.reason}`))))
      : null);
}

async function retryJob(job) {
  try {
    trackJob(await api(`/v1/jobs/${enc(job.id)}/retry`, { method: "POST" }));
    toast(t("job.retried"));
  } catch (err) {
    alertError(describe(err));
  }
}

function renderJobs() {
  const node = panel("jobs");
  const names = [...new Set([...state.collections.map((c) => c.name), ...[...state.jobs.values()].map((j) => j.collection)])];
  const picker = select([["", t("all")], ...names.map((n) => [n, n])], state.jobsFilter, { name: "collection" });
  picker.addEventListener("change", () => { state.jobsFilter = picker.value; render("jobs"); });
  const jobs = [...state.jobs.values()].filter((j) => !state.jobsFilter || j.collection === state.jobsFilter)
    .sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
  fill(node, h("h2", { text: t("jobs.title") }),
    h("div", { class: "row toolbar" }, field(t("jobs.collection"), picker),
      h("button", { type: "button", text: t("refresh"), onclick: () => loadJobs() })),
    state.jobsError ? errorNote(state.jobsError) : null,
    jobs.length ? h("ul", { class: "jobs", "aria-label": t("jobs.list") }, jobs.map((job) => h("li", null, jobView(job))))
      : h("p", { class: "muted", text: t("jobs.empty") }));
}

// --- keys (admin) ----------------------------------------------------------------------------------------

async function loadKeys() {
  try {
    state.keys = (await api("/v1/keys")).keys;
    state.keysError = null;
  } catch (err) {
    state.keysError = err;
  }
  render("keys");
}

function renderKeys() {
  const node = panel("keys");
  const parts = [h("h2", { text: t("keys.title") }), memo("key", state.collections.map((c) => c.name), keyForm)];
  if (state.created) parts.push(createdKey(state.created));
  if (state.keysError) parts.push(errorNote(state.keysError));
  const columns = [t("key.name"), t("key.role"), t("key.collections"), t("key.origins"), t("key.prefix"),
                   t("key.created"), t("key.status"), t("key.actions")];
  parts.push(table(t("keys.caption"), columns, state.keys.map((k) => ({
    attrs: { "data-key": k.name, "data-revoked": String(Boolean(k.revoked_at)) },
    cells: [h("strong", { text: k.name }), roleName(k.role), k.collections.join(", "), k.origins.join(", ") || t("none"),
            h("span", { class: "mono", text: `${k.prefix}…` }), fmtTime(k.created_at),
            k.revoked_at ? h("span", { class: "badge state-failed", text: t("key.revokedAt", fmtTime(k.revoked_at)) })
              : h("span", { class: "badge state-succeeded", text: t("key.active") }),
            k.revoked_at ? null : h("button", { type: "button", class: "danger", text: t("key.revoke"),
                                                "aria-label": t("key.revokeLabel", k.name), onclick: () => revokeKey(k) })],
  })), { "data-table": "keys" }));
  fill(node, parts);
}

function keyForm() {
  const name = h("input", { name: "name", required: true, maxlength: 64, autocomplete: "off" });
  const role = select(ROLES.map((r) => [r, roleName(r)]), "reader", { name: "role" });
  const all = h("input", { type: "checkbox", name: "all", value: "*" });
  const boxes = state.collections.map((c) => h("input", { type: "checkbox", name: "collections", value: c.name }));
  const origins = h("input", { name: "origins", autocomplete: "off", placeholder: "https://intranet.example",
                               inputmode: "url" });
  const originsField = field(t("key.origins"), origins, t("key.originsHint"));
  const error = h("p", { class: "error", role: "alert" });
  const collectionsSet = h("fieldset", { class: "choices" }, h("legend", { text: t("key.collections") }),
    h("label", { class: "choice" }, all, t("key.all")),
    state.collections.map((c, i) => h("label", { class: "choice" }, boxes[i], c.name)));
  const sync = () => {
    const admin = role.value === "admin", pub = role.value === "public";
    originsField.hidden = !pub;
    all.disabled = pub;  // a widget key must name its collections
    if (pub) all.checked = false;
    collectionsSet.disabled = admin;  // an admin key has every collection
    boxes.forEach((box) => { box.disabled = admin || all.checked; });
  };
  role.addEventListener("change", sync);
  all.addEventListener("change", sync);
  sync();
  const form = h("form", { class: "inline-form", "aria-labelledby": "key-form-title", novalidate: true },
    h("h3", { id: "key-form-title", text: t("key.new") }),
    h("div", { class: "row" }, field(t("key.name"), name), field(t("key.role"), role)),
    collectionsSet, originsField,
    h("button", { type: "submit", class: "primary", text: t("key.create") }), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const collections = role.value === "admin" || all.checked ? ["*"] : boxes.filter((b) => b.checked).map((b) => b.value);
    const originList = role.value === "public" ? origins.value.split(",").map((o) => o.trim()).filter(Boolean) : [];
    if (!collections.length) { error.textContent = t("key.needCollections"); return; }
    if (role.value === "public" && !originList.length) { error.textContent = t("key.needOrigins"); origins.focus(); return; }
    try {
      const created = await api("/v1/keys", { method: "POST",
        body: { name: name.value.trim(), role: role.value, collections, origins: originList } });
      state.created = created;
      form.reset();
      sync();
      await loadKeys();
      const token = byId("created-token");
      if (token) { token.focus(); token.select(); }
    } catch (err) {
      error.textContent = describe(err);
      name.focus();
    }
  });
  return form;
}

function widgetSnippet(created) {
  const service = location.origin + BASE;
  const collection = created.key.collections.find((c) => c !== "*" && c !== collectionDefaultName());
  const attrs = [`src="${service}/widget.js"`, `data-api="${service}"`, `data-api-key="${created.token}"`];
  if (collection) attrs.push(`data-collection="${collection}"`);
  attrs.push(`data-lang="${state.lang === "en" ? "en" : "zh"}"`);
  return `<script ${attrs.join(" ")} defer></script>`;
}

function collectionDefaultName() {
  const c = state.collections.find((x) => x.default);
  return c ? c.name : "default";
}

function createdKey(created) {
  const token = h("input", { id: "created-token", class: "mono", readonly: true, value: created.token,
                             "aria-label": t("key.token"), spellcheck: "false" });
  const parts = [h("p", null, h("strong", { text: t("key.createdTitle", created.key.name) })),
    h("div", { class: "row copy" }, token,
      h("button", { type: "button", class: "primary", text: t("key.copyToken"),
                    onclick: () => copyText(created.token, token) }))];
  if (created.key.role === "public") {
    const snippet = h("textarea", { id: "created-snippet", class: "mono", readonly: true, rows: 3, spellcheck: "false" });
    snippet.value = widgetSnippet(created);
    parts.push(field(t("key.snippet"), snippet),
      h("button", { type: "button", text: t("key.copySnippet"), onclick: () => copyText(snippet.value, snippet) }));
  }
  parts.push(h("button", { type: "button", class: "link", text: t("close"),
                           onclick: () => { state.created = null; render("keys"); } }));
  return h("div", { class: "created", id: "created-key", role: "status" }, parts);
}

async function revokeKey(key) {
  if (!await confirmDialog(t("key.confirmRevoke", key.name), t("key.confirmRevokeText"), t("key.revoke"))) return;
  try {
    await api(`/v1/keys/${enc(key.id)}`, { method: "DELETE" });
    toast(t("key.revoked", key.name));
    if (state.created && state.created.key.id === key.id) state.created = null;
  } catch (err) {
    alertError(describe(err));
  }
  if (state.me) await loadKeys();
}

// --- feedback review (admins; editors: their collections) ----------------------------------------------------

function feedbackQuery() {
  const f = state.feedbackFilter;
  const query = new URLSearchParams();
  if (f.collection) query.set("collection", f.collection);
  if (f.rating) query.set("rating", f.rating);
  if (f.reviewed) query.set("reviewed", f.reviewed);
  return query;
}

async function loadFeedback() {
  const query = feedbackQuery();
  query.set("limit", String(CONFIG.feedbackShown));
  const request = ++state.feedbackRequest;
  let feedback = null, error = null;
  try {
    feedback = await api(`/v1/feedback?${query}`);
  } catch (err) {
    error = err;
  }
  // filters changed twice in quick succession answer out of order; only the last one describes the page
  if (request !== state.feedbackRequest) return;
  if (!error) state.feedback = feedback;
  state.feedbackError = error;
  render("feedback");
}

function renderFeedback() {
  const node = panel("feedback");
  const f = state.feedbackFilter;
  const reviewable = state.collections.filter((c) => can("write", c.name)).map((c) => [c.name, c.name]);
  const controls = [
    ["collection", t("fb.collection"), [["", t("all")], ...reviewable]],
    ["rating", t("fb.rating"), [["", t("all")], ["up", t("fb.up")], ["down", t("fb.down")]]],
    ["reviewed", t("fb.reviewState"), [["", t("all")], ["false", t("fb.unreviewed")], ["true", t("fb.reviewed")]]],
  ].map(([name, label, options]) => {
    const control = select(options, f[name], { name });
    control.addEventListener("change", () => { f[name] = control.value; loadFeedback(); });
    return field(label, control);
  });
  const parts = [h("h2", { text: t("fb.title") }),
    h("div", { class: "row toolbar" }, controls,
      h("button", { type: "button", text: t("refresh"), onclick: () => loadFeedback() }),
      h("button", { type: "button", class: "primary", text: t("fb.export"), onclick: () => exportFeedback() }))];
  if (state.feedbackError) parts.push(errorNote(state.feedbackError));
  const data = state.feedback;
  if (!data && !state.feedbackError) parts.push(loadingNote());
  else if (data) {
    parts.push(h("p", { class: "summary", role: "status", text: t("fb.count", data.feedback.length, data.total) }));
    parts.push(data.feedback.length
      ? h("ul", { class: "feedback", "aria-label": t("fb.list") }, data.feedback.map(feedbackCard))
      : h("p", { class: "muted", text: t("fb.empty") }));
  }
  fill(node, parts);
}

function feedbackCard(r) {
  const up = r.rating === "up";
  const citations = r.citations || [];
  return h("li", { class: "fb", "data-feedback": r.id, "data-reviewed": String(r.reviewed), "data-rating": r.rating },
    h("div", { class: "fb-head" },
      h("span", { class: `rating rating-${up ? "up" : "down"}` }, icon(up ? "up" : "down"),
        up ? t("fb.ratingUp") : t("fb.ratingDown")),
      h("span", { class: "muted small", text: `${r.collection} · ${fmtTime(r.created_at)}` }),
      r.reviewed ? h("span", { class: "badge state-succeeded",
                               text: t("fb.reviewedBy", r.reviewed_by || t("none"), fmtTime(r.reviewed_at)) }) : null),
    h("dl", null,
      h("dt", { text: t("fb.question") }), h("dd", { class: "fb-question", text: r.question }),
      h("dt", { text: t("fb.answer") }), h("dd", { class: "fb-answer" }, r.answer,
        r.abstained ? h("span", { class: "muted", text: ` ${t("fb.abstained")}` }) : null),
      r.comment ? [h("dt", { text: t("fb.comment") }), h("dd", { class: "fb-comment", text: r.comment })] : null,
      citations.length ? [h("dt", { text: t("fb.citations") }), h("dd", null, h("ul", { class: "cites" },
        citations.map((c) => h("li", null, h("a", { href: viewerLink(r.collection, c.doc_id, c.paragraph_id),
                                                   text: c.title || c.doc_id }),
                                       c.quote ? h("span", { class: "muted", text: ` — ${c.quote}` }) : null))))] : null),
    h("button", { type: "button", "aria-pressed": String(r.reviewed),
                  text: r.reviewed ? t("fb.unmark") : t("fb.mark"),
                  "aria-label": r.reviewed ? t("fb.unmarkLabel", r.question) : t("fb.markLabel", r.question),
                  onclick: () => review(r, !r.reviewed) }));
}

async function review(record, reviewed) {
  try {
    await api(`/v1/feedback/${enc(record.id)}/review`, { method: "POST", body: { reviewed } });
  } catch (err) {
    alertError(describe(err));
  }
  await loadFeedback();
  const card = document.querySelector(`[data-feedback="${CSS.escape(record.id)}"] button`);
  (card || panel("feedback")).focus();
}

async function exportFeedback() {
  try {
    const response = await api(`/v1/feedback/export?${feedbackQuery()}`, { raw: true });
    const text = await response.text();
    const lines = text.split("\n").filter((line) => line.trim()).length;
    const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
    const f = state.feedbackFilter;
    const name = ["feedback_eval", f.collection, f.rating, f.reviewed === "true" ? "reviewed" : f.reviewed === "false"
      ? "unreviewed" : ""].filter(Boolean).join("_");
    const link = h("a", { href: url, download: `${name}.jsonl`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), CONFIG.toastMs);
    toast(t("fb.exported", lines));
  } catch (err) {
    alertError(describe(err));
  }
}

// --- start ---------------------------------------------------------------------------------------------------

function setLang(lang) {
  state.lang = lang === "en" ? "en" : "zh";
  localStorage.setItem(CONFIG.langStorage, state.lang);
  applyStatic();
  renderWho();
  if (state.me) render(state.tab);
}

function start() {
  const asked = new URLSearchParams(location.search).get("lang");
  state.lang = (asked || localStorage.getItem(CONFIG.langStorage) || "zh") === "en" ? "en" : "zh";
  applyStatic();
  byId("lang").addEventListener("click", () => setLang(state.lang === "en" ? "zh" : "en"));
  byId("signout").addEventListener("click", () => signOut());
  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn(byId("key-input").value.trim(), false);
  });
  byId("tabs").addEventListener("keydown", onTabKey);
  document.querySelectorAll("[role=tab]").forEach((tab) => tab.addEventListener("click", () => selectTab(tab.dataset.tab)));
  // a file dropped outside the drop zone must not make the browser open it (and leave the page)
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
  const saved = sessionStorage.getItem(CONFIG.keyStorage);
  if (saved) signIn(saved, true).then(ready);
  else ready();
}

function ready() {
  document.documentElement.dataset.ready = "true";
  if (!state.me) byId("key-input").focus();
}

start();
