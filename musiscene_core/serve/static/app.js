// MusiScene search page: plain JavaScript, same-origin requests only (relative URLs, so it also works under a
// reverse proxy's sub-path). The address bar always holds the current search, so any view can be shared.
"use strict";

const form = document.getElementById("search");
const fields = {
  q: document.getElementById("q"),
  k: document.getElementById("k"),
  min_duration: document.getElementById("min"),
  max_duration: document.getElementById("max"),
  catalog: document.getElementById("catalog"),
};
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const template = document.getElementById("hit");

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "duration unknown";
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

// The view described by a URL's query: a text search (q) or more like a track (similar), plus filters.
function viewFromUrl() {
  const params = new URLSearchParams(window.location.search);
  const view = {};
  for (const key of ["q", "similar", "k", "min_duration", "max_duration", "catalog"]) {
    const value = params.get(key);
    if (value !== null && value !== "") view[key] = value;
  }
  return view;
}

function filtersFromForm() {
  const view = {};
  for (const key of ["k", "min_duration", "max_duration", "catalog"]) {
    const value = fields[key].value.trim();
    if (value !== "" && !(key === "k" && value === "10")) view[key] = value;
  }
  return view;
}

function showViewInForm(view) {
  fields.q.value = view.q || "";
  fields.k.value = view.k || "10";
  fields.min_duration.value = view.min_duration || "";
  fields.max_duration.value = view.max_duration || "";
  if (view.catalog) fields.catalog.value = view.catalog;
  if (view.min_duration || view.max_duration) document.getElementById("filters").open = true;
}

function requestUrl(view) {
  const params = new URLSearchParams();
  for (const key of ["q", "k", "min_duration", "max_duration", "catalog"]) {
    if (view[key] !== undefined) params.set(key, view[key]);
  }
  const path = view.similar ? `similar/${encodeURIComponent(view.similar)}` : "search";
  return `${path}?${params}`;
}

async function show(view, remember) {
  if (remember) {
    const query = new URLSearchParams(view).toString();
    history.pushState(view, "", query ? `?${query}` : window.location.pathname);
  }
  showViewInForm(view);
  results.replaceChildren();
  if (!view.q && !view.similar) {
    statusLine.textContent = "";
    return;
  }
  statusLine.textContent = "Searching…";
  let body;
  try {
    const response = await fetch(requestUrl(view), { headers: { Accept: "application/json" } });
    body = await response.json();
    if (!response.ok) {
      statusLine.textContent = body.error || `The server answered ${response.status}.`;
      return;
    }
  } catch (error) {
    statusLine.textContent = "The server could not be reached.";
    return;
  }
  render(body, view);
}

function render(body, view) {
  const what = view.similar ? "tracks that sound like the chosen one" : `“${body.query}”`;
  statusLine.textContent = body.hits.length
    ? `${body.hits.length} ${body.hits.length === 1 ? "track" : "tracks"} for ${what}.`
    : `No track matches ${what} with these filters.`;
  for (const hit of body.hits) {
    const item = template.content.firstElementChild.cloneNode(true);
    item.dataset.trackId = hit.track_id;
    item.querySelector(".rank").textContent = `#${hit.rank}`;
    item.querySelector(".score").textContent = `score ${hit.score.toFixed(3)}`;
    item.querySelector(".duration").textContent = formatDuration(hit.duration_s);
    item.querySelector(".caption").textContent = hit.caption;
    item.querySelector(".uri").textContent = hit.uri;
    const audio = item.querySelector("audio");
    audio.src = `tracks/${encodeURIComponent(hit.track_id)}/audio?catalog=${encodeURIComponent(body.catalog)}`;
    audio.setAttribute("aria-label", `Play ${hit.caption}`);
    const more = item.querySelector(".more");
    more.setAttribute("aria-label", `More like: ${hit.caption}`);
    more.addEventListener("click", () => moreLike(hit.track_id, body.catalog));
    item.addEventListener("focus", () => markCurrent(item));
    results.append(item);
  }
}

function moreLike(trackId, catalog) {
  const view = { similar: trackId, ...filtersFromForm(), catalog };
  show(view, true).then(() => results.firstElementChild?.focus());
}

function markCurrent(item) {
  for (const other of results.children) other.classList.toggle("current", other === item);
}

function currentItem() {
  return document.activeElement?.closest?.(".hit") || null;
}

function moveFocus(step) {
  const items = [...results.children];
  if (!items.length) return;
  const index = items.indexOf(currentItem());
  const next = items[Math.min(items.length - 1, Math.max(0, index < 0 ? 0 : index + step))];
  next.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const q = fields.q.value.trim();
  if (!q) return;
  show({ q, ...filtersFromForm() }, true);
});

window.addEventListener("popstate", () => show(viewFromUrl(), false));

document.addEventListener("keydown", (event) => {
  const typing = event.target.matches?.("input, select, textarea");
  if (event.key === "/" && !typing) {
    event.preventDefault();
    fields.q.focus();
    fields.q.select();
  } else if (event.key === "Escape" && typing) {
    event.target.blur();
  } else if (!typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    const item = currentItem();
    if (event.key === "j" || event.key === "ArrowDown") {
      event.preventDefault();
      moveFocus(1);
    } else if (event.key === "k" || event.key === "ArrowUp") {
      event.preventDefault();
      moveFocus(-1);
    } else if (event.key === " " && item && event.target === item) {
      event.preventDefault();
      const audio = item.querySelector("audio");
      audio.paused ? audio.play() : audio.pause();
    } else if (event.key === "m" && item) {
      item.querySelector(".more").click();
    }
  }
});

async function loadCatalogs() {
  try {
    const response = await fetch("catalogs", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const catalogs = await response.json();
    for (const catalog of catalogs) {
      const option = new Option(`${catalog.name} (${catalog.tracks.toLocaleString()} tracks)`, catalog.name);
      fields.catalog.append(option);
    }
    document.getElementById("catalog-label").hidden = catalogs.length < 2;
  } catch (error) {
    // The search itself reports an unreachable server.
  }
}

loadCatalogs().then(() => {
  const view = viewFromUrl();
  history.replaceState(view, "", window.location.href);
  show(view, false);
  if (!view.q && !view.similar) fields.q.focus();
});
