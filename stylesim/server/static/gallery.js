/* stylesim gallery: drop or pick an image and see its style neighbours and its content
   neighbours side by side; pin a style and a content to find "style of this x content of that"
   or to restyle. Plain JavaScript, no build step, talks to the JSON API of `stylesim serve`. */
"use strict";

const TOKEN_KEY = "stylesim-token";
const CARD_SIZE = 320; // thumbnail pixels asked for (cards show about half, sharp on 2x screens)
const QUERY_SIZE = 512;
const POLL_MS = 1000;

const $ = (id) => document.getElementById(id);

const state = {
  token: "",
  indexes: [],
  index: null,
  adain: false,
  query: null, // a source: {id, path, kind, time, video} or {file, name, url}
  pins: { style: null, content: null },
  seq: 0, // the latest search; older answers are dropped
  pairSeq: 0,
  jobSeq: 0,
  pending: null, // metadata of the item a hash change is about to search
  uploads: 0,
};

/* ---------- helpers ---------- */

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

/** HH:MM:SS.mmm, as the API writes times. */
function formatTime(seconds) {
  let ms = Math.round(Number(seconds) * 1000);
  const h = Math.floor(ms / 3600000);
  ms -= h * 3600000;
  const m = Math.floor(ms / 60000);
  ms -= m * 60000;
  const s = Math.floor(ms / 1000);
  ms -= s * 1000;
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms, 3)}`;
}

function splitPath(path) {
  const parts = String(path || "").split(/[\\/]/).filter(Boolean);
  const file = parts.pop() || String(path || "");
  const folder = parts.pop();
  return { folder: folder ? `${folder}/` : "", file };
}

function score(value) {
  return Number(value).toFixed(3);
}

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/* ---------- the API ---------- */

function withToken(url) {
  if (!state.token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(state.token)}`;
}

function withIndex(params) {
  if (state.index && state.indexes.length > 1) params.set("index", state.index);
  return params;
}

async function api(path, { method = "GET", body = null, raw = false } = {}) {
  const headers = {};
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, { method, body, headers });
  } catch (error) {
    throw new ApiError(`the server cannot be reached (${error.message})`, 0);
  }
  if (response.status === 401) showTokenForm();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const data = await response.json();
      if (data && data.error) message = data.error;
    } catch (_) {
      /* not JSON: keep the status line */
    }
    throw new ApiError(message, response.status);
  }
  return raw ? response : response.json();
}

function itemImage(id, size) {
  const params = withIndex(new URLSearchParams({ size: String(size) }));
  return withToken(`/items/${id}/image?${params}`);
}

/* ---------- sources: indexed items and uploads ---------- */

function sourceKey(source) {
  return source.file ? source.key : `id:${source.id}`;
}

function sourceThumb(source, size) {
  if (source.file) {
    if (!source.url) source.url = URL.createObjectURL(source.file);
    return source.url;
  }
  return itemImage(source.id, size);
}

function sourceLabel(source) {
  if (source.file) return { folder: "upload: ", file: source.name, time: null };
  const { folder, file } = splitPath(source.video || source.path || `item ${source.id}`);
  const time = source.kind === "frame" && source.time !== undefined ? formatTime(source.time) : null;
  return { folder: source.path ? folder : "", file, time };
}

function labelText(source) {
  const { folder, file, time } = sourceLabel(source);
  return `${source.file ? "" : folder}${file}${time ? ` @ ${time}` : ""}`;
}

/** The query spec of ``source`` in a multipart request, adding its file to ``files`` if needed. */
function specFor(source, files) {
  if (!source.file) return `id:${source.id}`;
  let n = files.indexOf(source.file);
  if (n < 0) n = files.push(source.file) - 1;
  return `file:${n}`;
}

function sourceOfResult(result) {
  if (result.kind === "video") {
    const best = result.moments[0];
    return { id: best.id, path: result.path, video: result.path, kind: "frame", time: best.time };
  }
  return {
    id: result.id,
    path: result.path,
    video: result.video,
    kind: result.kind,
    time: result.time,
  };
}

/* ---------- messages and the token ---------- */

function showError(error) {
  const text = typeof error === "string" ? error : error.message || String(error);
  $("message-text").textContent = text.split("\n")[0];
  $("message").hidden = false;
}

function clearError() {
  $("message").hidden = true;
}

function showTokenForm() {
  $("token-form").hidden = false;
  $("token-input").focus();
}

function readToken() {
  const url = new URL(window.location.href);
  const given = url.searchParams.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.toString()); // keep it out of the address bar
  }
  state.token = sessionStorage.getItem(TOKEN_KEY) || "";
}

/* ---------- the query ---------- */

function showQuery(source) {
  state.query = source;
  $("query").hidden = false;
  $("dropzone").classList.add("compact");
  const image = $("query-image");
  image.src = sourceThumb(source, QUERY_SIZE);
  const { folder, file, time } = sourceLabel(source);
  image.alt = `Query: ${file}`;
  const name = $("query-name");
  name.replaceChildren(el("span", { class: "folder", text: folder }), file);
  name.title = source.file ? source.name : source.path || "";
  $("query-time").textContent = time || "";
  $("query-time").hidden = !time;
  syncPins();
}

async function describeItem(source) {
  if (source.file || source.path) return;
  const params = withIndex(new URLSearchParams());
  const row = await api(`/items/${source.id}?${params}`);
  Object.assign(source, {
    path: row.path,
    kind: row.kind,
    time: row.time === null ? undefined : row.time,
    video: row.kind === "frame" ? row.path : undefined,
  });
  if (state.query === source) showQuery(source);
}

function searchRequest(source, by) {
  const k = $("k-select").value;
  const group = $("group-check").checked;
  if (source.file) {
    const form = new FormData();
    form.append("q", "file:0");
    form.append("file", source.file, source.name);
    form.append("by", by);
    form.append("k", k);
    if (group) form.append("group_by", "video");
    if (state.index && state.indexes.length > 1) form.append("index", state.index);
    return api("/search", { method: "POST", body: form });
  }
  const params = new URLSearchParams({ q: `id:${source.id}`, by, k });
  if (group) params.set("group_by", "video");
  return api(`/search?${withIndex(params)}`);
}

const COLUMNS = [
  { list: "style-results", empty: "style-empty", note: "style-note", role: "style" },
  { list: "content-results", empty: "content-empty", note: "content-note", role: "content" },
];

async function search(source) {
  const seq = ++state.seq;
  clearError();
  showQuery(source);
  const byStyle = $("by-select").value;
  for (const column of COLUMNS) showLoading(column);
  describeItem(source).catch(() => {}); // the search reports a bad item itself
  const answers = await Promise.allSettled([searchRequest(source, byStyle), searchRequest(source, "content")]);
  if (seq !== state.seq) return; // a newer query took over
  answers.forEach((answer, i) => {
    const column = COLUMNS[i];
    const list = $(column.list);
    list.setAttribute("aria-busy", "false");
    list.dataset.query = sourceKey(source);
    if (answer.status === "fulfilled") {
      renderCards(list, answer.value[0].results, column.role);
      $(column.note).textContent = `${answer.value[0].results.length} by ${answer.value[0].by}`;
      $(column.empty).hidden = answer.value[0].results.length > 0;
      $(column.empty).textContent = "Nothing found.";
    } else {
      list.replaceChildren();
      $(column.empty).hidden = false;
      $(column.empty).textContent = "No results.";
      showError(answer.reason);
    }
  });
}

function showLoading(column) {
  const list = $(column.list);
  list.setAttribute("aria-busy", "true");
  delete list.dataset.query;
  $(column.empty).hidden = true;
  const count = Math.min(Number($("k-select").value), 6);
  list.replaceChildren(
    ...Array.from({ length: count }, () => el("li", { class: "card skeleton", "aria-hidden": "true" }))
  );
}

/** Search from an indexed item, through the address (so Back returns to the previous query). */
function go(source) {
  const params = new URLSearchParams({ item: String(source.id) });
  if (state.index && state.indexes.length > 1) params.set("index", state.index);
  const hash = `#${params}`;
  state.pending = source;
  if (window.location.hash === hash) {
    state.pending = null;
    search(source);
  } else {
    window.location.hash = hash;
  }
}

function fromHash() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const id = params.get("item");
  if (id === null || !/^\d+$/.test(id)) return false;
  const index = params.get("index");
  if (index && index !== state.index && state.indexes.some((i) => i.name === index)) {
    state.index = index;
    $("index-select").value = index;
  }
  const pending = state.pending;
  state.pending = null;
  search(pending && String(pending.id) === id ? pending : { id: Number(id) });
  return true;
}

function upload(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(`${file.name}: not an image`);
    return;
  }
  state.uploads += 1;
  const source = { file, name: file.name || "pasted image", key: `upload:${state.uploads}` };
  if (window.location.hash) history.replaceState(history.state, "", window.location.pathname + window.location.search);
  search(source);
}

/* ---------- result cards ---------- */

function scoreTitle(result) {
  const parts = [`score ${score(result.score)}`];
  if (result.scores) {
    for (const [name, value] of Object.entries(result.scores)) parts.push(`${name} ${score(value)}`);
  }
  return parts.join(" · ");
}

function pinButtons(source, label) {
  const key = sourceKey(source);
  return ["style", "content"].map((role) =>
    el(
      "button",
      {
        type: "button",
        class: `pin ${role}`,
        "data-key": key,
        "aria-pressed": state.pins[role] && sourceKey(state.pins[role]) === key ? "true" : "false",
        "aria-label": `Pin ${label} as the ${role}`,
        title: `Use as the ${role} for "style of this × content of that" and Restyle`,
        onclick: () => togglePin(role, source),
      },
      role
    )
  );
}

function card(result, role) {
  const source = sourceOfResult(result);
  const { folder, file } = splitPath(result.path);
  const isVideo = result.kind === "video";
  const time = result.kind === "frame" ? formatTime(result.time) : null;
  const label = `${file}${time ? ` at ${time}` : ""}`;
  const image = el("img", {
    src: itemImage(source.id, CARD_SIZE),
    alt: "",
    loading: "lazy",
    decoding: "async",
    width: result.width,
    height: result.height,
  });
  image.addEventListener("error", () => image.parentElement.classList.add("broken"), { once: true });
  const badge = isVideo
    ? el("span", { class: "badge", text: `▶ ${result.frames} frame${result.frames === 1 ? "" : "s"}` })
    : result.kind === "frame"
      ? el("span", { class: "badge", text: "frame" })
      : null;
  const fill = el("span", { class: "fill" });
  fill.style.width = `${Math.max(0, Math.min(1, result.score)) * 100}%`;
  const node = el(
    "li",
    { class: `card ${role}`, "data-id": source.id, "data-kind": result.kind },
    el(
      "button",
      {
        type: "button",
        class: "thumb",
        "aria-label": `Search from ${label}`,
        title: "Search from this",
        onclick: () => go(source),
      },
      image,
      badge,
      el("span", { class: "rank", text: String(result.rank) })
    ),
    el(
      "div",
      { class: "caption" },
      el("div", { class: "name", title: result.path }, el("span", { class: "folder", text: folder }), file),
      time ? el("div", { class: "time", text: time }) : null,
      isVideo
        ? el("div", { class: "time", text: `video · ${formatTime(result.duration)}` })
        : null,
      el(
        "div",
        { class: "score", title: scoreTitle(result) },
        el("span", { class: "value", text: score(result.score) }),
        el("span", { class: "bar" }, fill)
      ),
      isVideo ? momentList(result) : null,
      el("div", { class: "pins" }, pinButtons(source, label))
    )
  );
  return node;
}

function momentList(result) {
  const { file } = splitPath(result.path);
  return el(
    "ul",
    { class: "moments", "aria-label": `Best moments in ${file}` },
    result.moments.map((moment) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: "moment",
            "aria-label": `Jump to ${formatTime(moment.time)} in ${file} (score ${score(moment.score)})`,
            onclick: () =>
              go({ id: moment.id, path: result.path, video: result.path, kind: "frame", time: moment.time }),
          },
          el("span", { class: "at", text: formatTime(moment.time) }),
          el("span", { class: "value", text: Number(moment.score).toFixed(2) })
        )
      )
    )
  );
}

function renderCards(list, results, role) {
  list.replaceChildren(...results.map((result) => card(result, role)));
}

/* ---------- pins: style of this x content of that, restyle ---------- */

function togglePin(role, source) {
  const current = state.pins[role];
  state.pins[role] = current && sourceKey(current) === sourceKey(source) ? null : source;
  syncPins();
}

function syncPins() {
  for (const role of ["style", "content"]) {
    const pinned = state.pins[role];
    const key = pinned ? sourceKey(pinned) : null;
    document.querySelectorAll(`.cards .pin.${role}`).forEach((button) => {
      button.setAttribute("aria-pressed", button.dataset.key === key ? "true" : "false");
    });
    const queryPinned = Boolean(pinned && state.query && sourceKey(state.query) === key);
    $(`query-pin-${role}`).setAttribute("aria-pressed", queryPinned ? "true" : "false");
    const slot = $(`slot-${role}`);
    const body = $(`slot-${role}-body`);
    slot.dataset.empty = pinned ? "false" : "true";
    $(`slot-${role}-clear`).hidden = !pinned;
    if (pinned) {
      const { file, time } = sourceLabel(pinned);
      body.replaceChildren(
        el("img", { src: sourceThumb(pinned, CARD_SIZE), alt: "" }),
        el("span", { class: "slot-name", title: labelText(pinned) }, file, time ? ` @ ${time}` : "")
      );
    } else if (role === "content" && state.query) {
      const { file } = sourceLabel(state.query);
      body.replaceChildren(
        el("img", { src: sourceThumb(state.query, CARD_SIZE), alt: "", class: "faded" }),
        el("span", { class: "slot-name" }, el("em", { text: "the query" }), ` ${file}`)
      );
    } else {
      body.replaceChildren(el("span", { class: "slot-empty", text: "pin a result" }));
    }
  }
  const style = state.pins.style;
  const content = state.pins.content || state.query;
  $("pair-button").disabled = !(style && content);
  $("restyle-button").disabled = !(style && content) || $("restyle-button").dataset.running === "true";
  $("mix-hint").textContent = !style
    ? "Pin a style, and a content (or use the query), with the buttons on the results."
    : !content
      ? "Pin a content, or search for something to use as the content."
      : `Find: items that look like ${labelText(style)} and show ${labelText(content)}. ` +
        "Restyle: paint the content in the style.";
}

function pairContent() {
  return state.pins.content || state.query;
}

async function pairSearch() {
  const style = state.pins.style;
  const content = pairContent();
  if (!style || !content) return;
  const seq = ++state.pairSeq;
  clearError();
  const files = [];
  const form = new FormData();
  form.append("style_of", specFor(style, files));
  form.append("content_of", specFor(content, files));
  for (const file of files) form.append("file", file, file.name || "upload");
  form.append("k", $("k-select").value);
  form.append("mix", $("mix-range").value);
  if (state.index && state.indexes.length > 1) form.append("index", state.index);
  const section = $("pair");
  const list = $("pair-results");
  section.hidden = false;
  list.setAttribute("aria-busy", "true");
  delete list.dataset.query;
  list.replaceChildren(
    ...Array.from({ length: 6 }, () => el("li", { class: "card skeleton", "aria-hidden": "true" }))
  );
  $("pair-heading").textContent = `Style of ${labelText(style)} × content of ${labelText(content)}`;
  try {
    const [answer] = await api("/search", { method: "POST", body: form });
    if (seq !== state.pairSeq) return;
    renderCards(list, answer.results, "pair");
    list.dataset.query = `${sourceKey(style)} x ${sourceKey(content)}`;
    if (!answer.results.length) list.append(el("li", { class: "empty", text: "Nothing found." }));
  } catch (error) {
    if (seq !== state.pairSeq) return;
    list.replaceChildren();
    section.hidden = true;
    showError(error);
  } finally {
    list.setAttribute("aria-busy", "false");
  }
  section.scrollIntoView({ behavior: "smooth", block: "nearest" });
}

async function restyle() {
  const style = state.pins.style;
  const content = pairContent();
  if (!style || !content) return;
  const seq = ++state.jobSeq;
  clearError();
  const files = [];
  const form = new FormData();
  form.append("content", specFor(content, files));
  form.append("style", specFor(style, files));
  for (const file of files) form.append("file", file, file.name || "upload");
  form.append("method", $("method-select").value);
  form.append("size", $("size-input").value);
  form.append("steps", $("steps-input").value);
  if (state.adain && $("method-select").value !== "gatys") {
    form.append("alpha", $("alpha-input").value); // AdaIN's strength: Gatys has none
  }
  if (state.index && state.indexes.length > 1) form.append("index", state.index);
  const caption = `${labelText(content)} in the style of ${labelText(style)}`;
  setRestyling(true);
  $("restyled").hidden = true;
  showJob({ status: "starting", progress: { steps: 0, total: 0 } });
  try {
    const response = await api("/restyle", { method: "POST", body: form, raw: true });
    if (seq !== state.jobSeq) return;
    if (response.status === 202) {
      await pollJob(await response.json(), seq, caption);
    } else {
      const blob = await response.blob();
      $("job").hidden = true;
      showRestyled(URL.createObjectURL(blob), `${caption} (AdaIN)`);
    }
  } catch (error) {
    if (seq === state.jobSeq) {
      $("job").hidden = true;
      showError(error);
    }
  } finally {
    if (seq === state.jobSeq) setRestyling(false);
  }
}

async function pollJob(job, seq, caption) {
  for (;;) {
    if (seq !== state.jobSeq) return;
    showJob(job);
    if (job.status === "done") {
      $("job").hidden = true;
      showRestyled(withToken(job.image), `${caption} (Gatys, ${job.seconds} s)`);
      return;
    }
    if (job.status === "failed") throw new ApiError(`restyle failed: ${job.error || "unknown error"}`, 500);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = await api(`/jobs/${encodeURIComponent(job.id)}`);
  }
}

function showJob(job) {
  $("job").hidden = false;
  const bar = $("job-progress");
  const { steps, total } = job.progress || { steps: 0, total: 0 };
  if (total > 0) {
    bar.max = total;
    bar.value = steps;
  } else {
    bar.removeAttribute("value"); // indeterminate
  }
  const text = {
    starting: "Starting…",
    queued: `Queued${job.position ? ` (position ${job.position})` : ""}…`,
    running: `Gatys: ${steps} / ${total} steps`,
    done: "Done",
    failed: "Failed",
  }[job.status];
  $("job-status").textContent = text || job.status;
}

function showRestyled(url, caption) {
  const image = $("restyled-image");
  image.src = url;
  $("restyled-caption").textContent = caption;
  $("restyled-link").href = url;
  $("restyled").hidden = false;
  image.addEventListener("load", () => $("restyled").scrollIntoView({ block: "nearest" }), { once: true });
}

function setRestyling(running) {
  const button = $("restyle-button");
  button.dataset.running = running ? "true" : "false";
  button.textContent = running ? "Restyling…" : "Restyle";
  syncPins();
}

/* ---------- indexes and start ---------- */

async function loadIndexes() {
  const data = await api("/indexes");
  state.indexes = data.indexes;
  state.adain = Boolean(data.adain);
  const select = $("index-select");
  select.replaceChildren(
    ...data.indexes.map((i) => el("option", { value: i.name, text: `${i.name} (${i.items} items)` }))
  );
  if (!state.index || !data.indexes.some((i) => i.name === state.index)) {
    const chosen = data.indexes.find((i) => i.default) || data.indexes[0];
    state.index = chosen ? chosen.name : null;
  }
  if (state.index) select.value = state.index;
  $("index-control").hidden = data.indexes.length < 2;
  const adainOption = $("method-select").querySelector('option[value="adain"]');
  adainOption.disabled = !state.adain;
  adainOption.textContent = state.adain ? "AdaIN (fast)" : "AdaIN (no decoder installed)";
  $("alpha-input").disabled = !state.adain;
  $("method-select").querySelector('option[value="auto"]').textContent = state.adain
    ? "auto (AdaIN)"
    : "auto (Gatys)";
}

function changeIndex() {
  state.index = $("index-select").value;
  // item ids belong to one index: forget the ones from the other
  for (const role of ["style", "content"]) {
    if (state.pins[role] && !state.pins[role].file) state.pins[role] = null;
  }
  $("pair").hidden = true;
  if (state.query && state.query.file) {
    search(state.query);
  } else {
    state.query = null;
    state.seq += 1;
    $("query").hidden = true;
    $("dropzone").classList.remove("compact");
    for (const column of COLUMNS) {
      $(column.list).replaceChildren();
      $(column.empty).hidden = false;
    }
    history.replaceState(history.state, "", window.location.pathname + window.location.search);
  }
  syncPins();
}

async function randomItem() {
  const served = state.indexes.find((i) => i.name === state.index);
  if (!served || !served.items) return;
  for (let tries = 0; tries < 8; tries++) {
    const id = Math.floor(Math.random() * served.items);
    try {
      const row = await api(`/items/${id}?${withIndex(new URLSearchParams())}`);
      go({
        id,
        path: row.path,
        kind: row.kind,
        time: row.time === null ? undefined : row.time,
        video: row.kind === "frame" ? row.path : undefined,
      });
      return;
    } catch (error) {
      if (error.status !== 404) {
        showError(error);
        return;
      }
    }
  }
  showError("no item found: try again");
}

async function start() {
  clearError();
  try {
    await loadIndexes();
  } catch (error) {
    showError(error);
    return;
  }
  $("token-form").hidden = true;
  if (!fromHash() && state.query) search(state.query);
}

function wireDragAndDrop() {
  const overlay = $("drop-overlay");
  let depth = 0;
  const hasFiles = (event) => Array.from(event.dataTransfer?.types || []).includes("Files");
  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    overlay.classList.add("shown");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.classList.remove("shown");
  });
  window.addEventListener("dragover", (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    overlay.classList.remove("shown");
    upload(event.dataTransfer.files[0]);
  });
  window.addEventListener("paste", (event) => {
    const file = Array.from(event.clipboardData?.files || []).find((f) => f.type.startsWith("image/"));
    if (file) upload(file);
  });
}

function wire() {
  readToken();
  wireDragAndDrop();
  $("file-input").addEventListener("change", (event) => {
    upload(event.target.files[0]);
    event.target.value = ""; // the same file can be chosen again
  });
  $("message-close").addEventListener("click", clearError);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    sessionStorage.setItem(TOKEN_KEY, state.token);
    $("token-input").value = "";
    start();
  });
  $("controls").addEventListener("submit", (event) => event.preventDefault());
  $("index-select").addEventListener("change", changeIndex);
  for (const id of ["by-select", "k-select", "group-check"]) {
    $(id).addEventListener("change", () => state.query && search(state.query));
  }
  $("random-button").addEventListener("click", randomItem);
  $("query-pin-style").addEventListener("click", () => state.query && togglePin("style", state.query));
  $("query-pin-content").addEventListener("click", () => state.query && togglePin("content", state.query));
  for (const role of ["style", "content"]) {
    $(`slot-${role}-clear`).addEventListener("click", () => {
      state.pins[role] = null;
      syncPins();
    });
  }
  $("mix-range").addEventListener("input", () => {
    $("mix-value").textContent = Number($("mix-range").value).toFixed(2);
  });
  $("pair-button").addEventListener("click", pairSearch);
  $("pair-close").addEventListener("click", () => {
    $("pair").hidden = true;
  });
  $("restyle-button").addEventListener("click", restyle);
  window.addEventListener("hashchange", fromHash);
  syncPins();
  start();
}

wire();
