#!/usr/bin/env node
// resize_page.js - drives public/resize.html in headless Chromium against
// the real rail-server on a loopback port: uploads real images, submits,
// and checks what the page shows against what the server answered (the
// result's natural size, bytes, type, time; the error line on a 4xx).
// Saves screenshots; exits non-zero on the first failure.
//
//   node resize_page.js --server BIN --root PUBLIC_DIR --modules NODE_MODULES
//                       --chromium /usr/bin/chromium --screenshot OUT.png
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const assert = require("node:assert/strict");

const WAIT_MS = 30000; // generous: sanitizer builds are slow

function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--") || argv[i + 1] === undefined)
      throw new Error("usage: --server BIN --root DIR --modules DIR --chromium BIN --screenshot PNG");
    args[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ["server", "root", "modules", "chromium", "screenshot"])
    if (!args[k]) throw new Error("missing --" + k);
  return args;
}

// Starts rail-server on 127.0.0.1:0 and resolves with its port, read from
// the "listening on http://127.0.0.1:PORT/" line it prints first.
function startServer(bin, root) {
  const child = spawn(bin, ["--listen", "127.0.0.1:0", "--root", root, "--access-log", "-"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const log = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("rail-server printed no address")), WAIT_MS);
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        log.push(line);
        const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve({ child, port: Number(m[1]), log });
        }
      }
    });
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`rail-server exited (${code ?? sig}) before listening`));
    });
  });
}

function stopServer(server) {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
    const kill = setTimeout(() => server.child.kill("SIGKILL"), WAIT_MS);
    server.child.on("exit", (code, sig) => {
      clearTimeout(kill);
      resolve(code ?? sig);
    });
    server.child.kill("SIGTERM");
  });
}

const bytesText = (n) => n.toLocaleString("en-US") + (n === 1 ? " byte" : " bytes");
const text = (page, id) => page.$eval("#" + id, (e) => e.textContent.trim());

// Fills the form as a user would: clears and types numbers, picks options.
async function setForm(page, form) {
  const { w = "", h = "", fit = "inside", gravity = "centre", format = "", enlarge = false } = form;
  for (const [id, value] of [["w", w], ["h", h]]) {
    await page.$eval("#" + id, (e) => (e.value = ""));
    if (value !== "") await page.type("#" + id, String(value));
  }
  await page.select("#fit", fit);
  await page.select("#gravity", gravity);
  await page.select("#format", format);
  if (form.q !== undefined)
    await page.$eval(
      "#q",
      (e, q) => {
        e.value = q; // as a drag of the slider would
        e.dispatchEvent(new Event("input", { bubbles: true }));
      },
      String(form.q),
    );
  const checked = await page.$eval("#enlarge", (e) => e.checked);
  if (checked !== enlarge) await page.click("#enlarge");
}

// Uploads FILE, submits, and resolves once the page has shown the answer
// to its /resize request: { response, body, wallMs }, where response is
// what the page received (status, headers) and body the answer's bytes.
async function submit(page, file) {
  const input = await page.$("#file");
  await input.uploadFile(file);
  await page.waitForFunction(() => !document.getElementById("submit").disabled, {
    timeout: WAIT_MS,
  });
  const start = Date.now();
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === "/resize", { timeout: WAIT_MS }),
    page.click("#submit"),
  ]);
  await page.waitForFunction(
    () => ["done", "error"].includes(document.getElementById("panes").dataset.state),
    { timeout: WAIT_MS },
  );
  const wallMs = Date.now() - start;
  // Chromium may drop a response body from its inspector cache, so the
  // bytes to compare with come from the same request sent again from here
  // (the server's answer to the same bytes and query is the same).
  const again = await fetch(response.url(), { method: "POST", body: fs.readFileSync(file) });
  assert.equal(again.status, response.status(), "the same request answered the same way");
  const body = Buffer.from(await again.arrayBuffer());
  return { response, body, wallMs };
}

// Checks that the page shows the error line of a failed request.
async function expectError(page, file, form, status) {
  await setForm(page, form);
  const { response, body } = await submit(page, file);
  assert.equal(response.status(), status, `status for ${path.basename(file)} ${JSON.stringify(form)}`);
  const line = body.toString("utf8").split("\n")[0].trim();
  assert.ok(line.length > 0, "the server sent an error line");
  assert.equal(await page.$eval("#error", (e) => e.hidden), false, "error box shown");
  const shown = await text(page, "error");
  assert.ok(shown.startsWith(status + " "), `error box starts with the status: '${shown}'`);
  assert.ok(shown.endsWith(line), `error box shows the server's line '${line}': '${shown}'`);
  assert.equal(await page.$eval("#result-img", (e) => e.hasAttribute("src")), false);
  console.log(`ok - ${status} shown: ${shown}`);
}

// Uploads, checks the result against the answer, returns the result size.
async function expectResult(page, file, form, want) {
  await setForm(page, form);
  const { response, body, wallMs } = await submit(page, file);
  const label = `${path.basename(file)} ${JSON.stringify(form)}`;
  const asked = new URL(response.url());
  assert.equal(await text(page, "request"), `POST ${asked.pathname}${asked.search}`, "request shown");
  for (const [k, v] of Object.entries(form))
    if (v !== "" && !(k === "fit" && v === "inside") && !(k === "gravity" && v === "centre"))
      assert.equal(asked.searchParams.get(k), String(v), `${label}: ${k} in the query`);
  assert.equal(response.status(), 200, `${label}: ${body.toString("utf8").slice(0, 200)}`);
  assert.equal(await page.$eval("#error", (e) => e.hidden), true, "no error box");
  const type = response.headers()["content-type"];
  assert.equal(type, want.type, label + ": Content-Type");
  assert.equal(Number(response.headers()["content-length"]), body.length);

  const size = await page.$eval("#result-img", (e) => [e.naturalWidth, e.naturalHeight]);
  assert.deepEqual(size, want.size, label + ": natural size of the result");
  assert.equal(await text(page, "result-dims"), `${size[0]} × ${size[1]}`);
  assert.equal(await text(page, "result-bytes"), bytesText(body.length));
  assert.equal(await text(page, "result-type"), type);
  const time = await text(page, "result-time");
  const m = /^(\d+) ms$/.exec(time);
  assert.ok(m, `time shown as 'N ms': '${time}'`);
  assert.ok(Number(m[1]) <= wallMs + 1, `time ${m[1]} ms within the ${wallMs} ms measured outside`);

  assert.equal(await text(page, "original-bytes"), bytesText(fs.statSync(file).size));
  if (want.original)
    assert.equal(await text(page, "original-dims"), `${want.original[0]} × ${want.original[1]}`);
  console.log(`ok - ${label} -> ${size[0]}x${size[1]} ${type}, ${body.length} bytes, ${time}`);
}

// Mean colour of a horizontal band of the result image (fractions of its
// height), read back through a canvas.
function band(page, top, bottom) {
  return page.$eval(
    "#result-img",
    (img, top, bottom) => {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      const y0 = Math.floor(c.height * top);
      const y1 = Math.floor(c.height * bottom);
      const d = g.getImageData(0, y0, c.width, y1 - y0).data;
      const sum = [0, 0, 0];
      for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) sum[k] += d[i + k];
      return sum.map((s) => Math.round(s / (d.length / 4)));
    },
    top,
    bottom,
  );
}

async function main() {
  const args = parseArgs(process.argv);
  const puppeteer = require(path.join(path.resolve(args.modules), "puppeteer-core"));
  const root = path.resolve(args.root);
  const samples = path.join(root, "samples");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rail-browser-"));
  const notImage = path.join(tmp, "notes.txt");
  fs.writeFileSync(notImage, "this is a text file, not an image\n");

  const server = await startServer(args.server, root);
  let browser;
  try {
    browser = await puppeteer.launch({
      executablePath: args.chromium,
      headless: true,
      userDataDir: path.join(tmp, "profile"),
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
    });
    const page = await browser.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("console", (m) => m.type() === "error" && problems.push("console: " + m.text()));
    await page.setViewport({ width: 1100, height: 900 });
    const base = `http://127.0.0.1:${server.port}`;

    // The hello page links to the resize page.
    await page.goto(base + "/", { waitUntil: "load", timeout: WAIT_MS });
    await Promise.all([page.waitForNavigation({ timeout: WAIT_MS }), page.click('a[href="resize.html"]')]);
    assert.equal(new URL(page.url()).pathname, "/resize.html");
    await page.waitForSelector("#samples:not([hidden]) button", { timeout: WAIT_MS });

    // The other two ways to pick an image: a sample button, and a file
    // dropped on the drop zone (a synthetic drop carrying real bytes).
    const picked = (name, dims) =>
      page.waitForFunction(
        (name, dims) =>
          document.getElementById("drop-text").textContent === name &&
          document.getElementById("original-dims").textContent === dims,
        { timeout: WAIT_MS },
        name,
        dims,
      );
    const sample = await page.$$eval("#samples button", (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(sample.sort(), ["badge-alpha.png", "ball-anim.gif", "landscape-exif6.jpg"]);
    await page.$$eval("#samples button", (bs) => bs.find((b) => b.textContent === "ball-anim.gif").click());
    await picked("ball-anim.gif", "400 × 120");
    const png = fs.readFileSync(path.join(samples, "badge-alpha.png")).toString("base64");
    await page.$eval(
      "#drop",
      (drop, b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "dropped.png", { type: "image/png" }));
        drop.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
      },
      png,
    );
    await picked("dropped.png", "480 × 480");
    console.log("ok - picked by sample button and by drop");

    // Failures show the server's one-line reason.
    await expectError(page, notImage, { w: 100 }, 415);
    await expectError(page, path.join(samples, "badge-alpha.png"), { w: 0 }, 400);
    problems.length = 0; // Chromium logs each failed fetch as a console error

    // A PNG with alpha, padded to exactly 300x200.
    await expectResult(page, path.join(samples, "badge-alpha.png"),
      { w: 300, h: 200, fit: "contain", format: "png" },
      { size: [300, 200], type: "image/png", original: [480, 480] });
    // The first frame of an animated GIF, 200 wide.
    await expectResult(page, path.join(samples, "ball-anim.gif"), { w: 200 },
      { size: [200, 60], type: "image/gif", original: [400, 120] });
    // The photo is stored 600x800 with EXIF orientation 6: upright it is
    // 800x600 (Chromium shows the original upright too), so w=400 gives
    // 400x300 with the sky on top and the hills below.
    const photo = path.join(samples, "landscape-exif6.jpg");
    await expectResult(page, photo, { w: 400, format: "webp", q: 60 },
      { size: [400, 300], type: "image/webp", original: [800, 600] });
    const [sky, hills] = [await band(page, 0, 0.2), await band(page, 0.8, 1)];
    assert.ok(sky[2] > sky[1] && sky[2] > sky[0], `sky on top is blue: ${sky}`);
    assert.ok(hills[1] > hills[2] && hills[1] > hills[0], `hills below are green: ${hills}`);
    console.log(`ok - result upright: top band rgb(${sky}), bottom band rgb(${hills})`);

    // The picture for the README: a cover crop with every number shown.
    await expectResult(page, photo, { w: 480, h: 270, fit: "cover", gravity: "north", format: "jpeg" },
      { size: [480, 270], type: "image/jpeg", original: [800, 600] });
    fs.mkdirSync(path.dirname(args.screenshot), { recursive: true });
    await page.screenshot({ path: args.screenshot, fullPage: true });
    console.log("ok - screenshot " + args.screenshot);

    // At phone width the page fits: no sideways scrolling. (isMobile would
    // reload the page and lose the result.)
    await page.setViewport({ width: 390, height: 844 });
    const [scrollW, clientW] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    assert.ok(scrollW <= clientW, `phone width: page ${scrollW} px wide in a ${clientW} px viewport`);
    const phone = args.screenshot.replace(/\.png$/, "") + "-phone.png";
    await page.screenshot({ path: phone, fullPage: true });
    console.log(`ok - phone width fits (${scrollW} px), screenshot ${phone}`);

    assert.deepEqual(problems, [], "no script errors on the page");
  } finally {
    if (browser) await browser.close();
    const status = await stopServer(server);
    fs.rmSync(tmp, { recursive: true, force: true });
    if (status !== 0 && status !== undefined) {
      console.error(`FAIL: rail-server exit ${status}; last lines:\n${server.log.slice(-10).join("\n")}`);
      process.exitCode = 1;
    }
  }
}

main().then(
  () => console.log("resize page: all checks passed"),
  (e) => {
    console.error("FAIL: " + (e && e.stack ? e.stack : e));
    process.exitCode = 1;
  },
);
