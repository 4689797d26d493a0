// resize.js - the /resize try-out page. Posts the chosen file to
// /resize?PARAMS and shows the answer beside the original. Only parameters
// that differ from the contract's defaults go into the query, so the URL
// shown is the shortest one that asks for the same thing.
"use strict";

const SAMPLES = ["landscape-exif6.jpg", "badge-alpha.png", "ball-anim.gif"];
const $ = (id) => document.getElementById(id);

let original = null; // the Blob to upload
let originalUrl = null;
let resultUrl = null;

// Exact, so it can be compared with Content-Length: "26,971 bytes".
function formatBytes(n) {
  return n.toLocaleString("en-US") + (n === 1 ? " byte" : " bytes");
}

// An integer field, or null when empty.
function intValue(input) {
  const s = input.value.trim();
  return s === "" ? null : Number(s);
}

function buildQuery() {
  const p = new URLSearchParams();
  const w = intValue($("w"));
  const h = intValue($("h"));
  if (w !== null) p.set("w", w);
  if (h !== null) p.set("h", h);
  const fit = $("fit").value;
  // fit and gravity only mean something with both sides (gravity: cover).
  if (w !== null && h !== null && fit !== "inside") p.set("fit", fit);
  if (w !== null && h !== null && fit === "cover" && $("gravity").value !== "centre")
    p.set("gravity", $("gravity").value);
  if ($("enlarge").checked) p.set("enlarge", "1");
  if ($("format").value !== "") p.set("format", $("format").value);
  // q stays the server's default (80; AVIF 50) until the slider is moved.
  if ($("q").dataset.touched) p.set("q", $("q").value);
  const bg = $("bg").value.replace("#", "").toLowerCase();
  if (bg !== "ffffff") p.set("bg", bg);
  return p.toString();
}

function showRequest() {
  const q = buildQuery();
  $("request").textContent = "POST /resize" + (q ? "?" + q : "");
  $("gravity").disabled = $("fit").value !== "cover";
  $("q-out").textContent = $("q").dataset.touched ? $("q").value : "default";
}

// Natural size of an image URL, once it has loaded.
function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser could not display it"));
    img.src = url;
  });
}

function setText(id, text) {
  $(id).textContent = text;
}

function clearResult() {
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = null;
  $("result-img").removeAttribute("src");
  for (const id of ["result-dims", "result-bytes", "result-type", "result-time"]) setText(id, "–");
  $("download").hidden = true;
}

function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = text === "";
}

async function useFile(blob, name) {
  original = blob;
  if (originalUrl) URL.revokeObjectURL(originalUrl);
  originalUrl = URL.createObjectURL(blob);
  setText("drop-text", name);
  setText("original-bytes", formatBytes(blob.size));
  setText("original-type", blob.type || "unknown");
  setText("original-dims", "…");
  clearResult();
  showError("");
  $("panes").dataset.state = "picked";
  $("submit").disabled = false;
  try {
    const img = await loadImage($("original-img"), originalUrl);
    setText("original-dims", img.naturalWidth + " × " + img.naturalHeight);
  } catch (e) {
    // Still worth sending: the server says what is wrong with it.
    setText("original-dims", "not shown: " + e.message);
  }
}

async function resize(event) {
  event.preventDefault();
  if (!original) return;
  const url = "/resize" + (buildQuery() ? "?" + buildQuery() : "");
  const panes = $("panes");
  panes.dataset.state = "busy";
  $("submit").disabled = true;
  showError("");
  clearResult();
  const start = performance.now();
  try {
    const res = await fetch(url, { method: "POST", body: original });
    const body = await res.blob();
    const ms = performance.now() - start;
    if (!res.ok) {
      // The server's error body is one line naming the problem; rail-server
      // starts it with the status, other servers may not.
      const line = (await body.text()).split("\n")[0].trim();
      const status = res.status + " " + res.statusText;
      showError(line.startsWith(String(res.status)) ? line : status + ": " + (line || "(no message)"));
      panes.dataset.state = "error";
      return;
    }
    resultUrl = URL.createObjectURL(body);
    const img = await loadImage($("result-img"), resultUrl);
    setText("result-dims", img.naturalWidth + " × " + img.naturalHeight);
    setText("result-bytes", formatBytes(body.size));
    setText("result-type", res.headers.get("Content-Type") || "unknown");
    setText("result-time", ms.toFixed(0) + " ms");
    const a = $("download");
    a.href = resultUrl;
    a.download = "resized." + (body.type.split("/")[1] || "img");
    a.hidden = false;
    panes.dataset.state = "done";
  } catch (e) {
    showError("request failed: " + e.message);
    panes.dataset.state = "error";
  } finally {
    $("submit").disabled = false;
  }
}

// Samples are offered only when the server has them (make run serves
// public/samples/).
async function offerSamples() {
  const list = $("samples");
  for (const name of SAMPLES) {
    const res = await fetch("samples/" + name, { method: "HEAD" }).catch(() => null);
    if (!res || !res.ok) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = name;
    b.addEventListener("click", async () => {
      const r = await fetch("samples/" + name);
      if (r.ok) useFile(await r.blob(), name);
      else showError(r.status + " fetching samples/" + name);
    });
    list.append(b);
    list.hidden = false;
  }
}

function wireDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) useFile(f, f.name);
  });
  $("file").addEventListener("change", () => {
    const f = $("file").files[0];
    if (f) useFile(f, f.name);
  });
}

wireDrop();
$("form").addEventListener("submit", resize);
$("q").addEventListener("input", () => ($("q").dataset.touched = "1"));
$("form").addEventListener("input", showRequest);
showRequest();
offerSamples();
