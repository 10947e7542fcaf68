// The demo viewer end to end, in headless Chromium with a persistent profile (so IndexedDB
// survives the reload): first load computes the T1 map, a reload reads it from IndexedDB
// much faster, a new TR computes a new map and the old TR is a hit again, the slice slider
// redraws, clearing one type and all types empties the cache, force recomputes.
// Then the shared tier: a native program (examples/demo_maps.rs) computes the same maps
// into a bucket on a SeaweedFS server, and a fresh viewer pointed at the bucket shows them
// as shared hits without computing anything, then from IndexedDB after a reload.
// Then bundles, and NIfTI images: files made here with nifti-reader-js are opened in the
// viewer, their maps computed once, saved as NIfTI and read back, bad files refused with a
// message, and after a reload the same files show their maps from the cache, slice first.
//
//   bash test/run.sh        (npm ci, builds the package if missing and the native
//                            programs, runs the tests)
//   node --test test/e2e.test.mjs
//
// Needs adapters/wasm/pkg (bash adapters/wasm/build.sh), /usr/bin/chromium ($CHROMIUM), and
// for the shared tier and bundles the binaries public_bucket and stepcache (debug) and demo_maps (release) under
// target/ ($CARGO_TARGET_DIR) and SeaweedFS (bash tests/setup.sh).
// Screenshots go to test/screenshots/ (git-ignored); their paths are printed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";
import { readHeader, readImage } from "nifti-reader-js";

import { start, PKG } from "../serve.mjs";
import { readNifti } from "../lib/nifti.js";
import { smoothVolume } from "../lib/smooth.js";
import { cubeImage, niftiFile, VFA, vfaSeries } from "./nifti-files.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, "screenshots");
const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.resolve(HERE, "../../target");
const LAUNCH = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1400, height: 900 },
};
const RUN_TIMEOUT = 180_000; // one pipeline run on a slow, busy machine

/** The #last-result element's data: the T1 map of the latest run. */
const lastResult = (page) => page.evaluate(() => ({ ...document.getElementById("last-result").dataset }));

/** The cache panel's numbers (data-value of each element). */
const panel = (page) =>
  page.evaluate(() => {
    const num = (id) => Number(document.getElementById(id).dataset.value);
    return {
      hits: num("hits"),
      hitsMemory: num("hits-memory"),
      hitsStore: num("hits-store"),
      misses: num("misses"),
      savedMs: num("saved-ms"),
      hitsAll: num("hits-all"),
      savedAll: num("saved-all"),
      entries: num("entries-count"),
      rows: [...document.querySelectorAll("#entries tr[data-step]")].map((tr) => tr.dataset.step),
      madeFrom: Object.fromEntries(
        [...document.querySelectorAll("#entries tr[data-step]")].map((tr) => [tr.dataset.step, tr.querySelector("td.key").textContent]),
      ),
      usage: document.getElementById("storage-usage").dataset.value,
      quota: document.getElementById("storage-quota").dataset.value,
      persisted: document.getElementById("persisted").dataset.value,
    };
  });

/** Pixels of the slice canvas: distinct colours, share of non-black pixels, a checksum. */
const canvasStats = (page) =>
  page.evaluate(() => {
    const c = document.getElementById("view");
    const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
    const colours = new Set();
    let lit = 0;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) {
      const rgb = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      colours.add(rgb);
      if (rgb !== 0) lit++;
      sum = (Math.imul(sum, 31) + rgb) | 0;
    }
    return { colours: colours.size, litFraction: lit / (data.length / 4), checksum: sum };
  });

/** Waits until a run newer than `afterSeq` has finished (the page is idle again). */
async function waitForRun(page, afterSeq) {
  await page.waitForFunction(
    (after) => {
      const last = document.getElementById("last-result").dataset;
      return document.body.dataset.busy === "0" && Number(last.seq) > after && document.body.dataset.ready === "1";
    },
    afterSeq,
    { timeout: RUN_TIMEOUT, polling: 50 },
  );
  return lastResult(page);
}

const stepSource = (page, step) => page.evaluate((s) => document.getElementById(`step-${s}`).dataset.source, step);

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file });
  console.log(`screenshot: ${file}`);
  return file;
}

/**
 * The viewer's browser: a persistent profile (`profile`, so storage survives reloads) with
 * the worker's messages logged, and its page, whose errors are pushed onto `errors`.
 */
async function viewerBrowser(profile, errors, options = {}) {
  const context = await chromium.launchPersistentContext(profile, { ...LAUNCH, ...options });
  await context.addInitScript(logWorkerMessages);
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
  });
  page.on("requestfailed", (r) => {
    // A reload aborts what the page was still loading: that is not a failure.
    if (r.failure()?.errorText !== "net::ERR_ABORTED") errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { context, page };
}

test("the demo viewer computes, caches, reloads from IndexedDB and manages its cache", { timeout: 15 * 60_000 }, async (t) => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `${PKG} is missing: bash adapters/wasm/build.sh`);
  const server = await start({ port: 0 });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-e2e-"));
  const errors = [];
  const { context, page } = await viewerBrowser(profile, errors);
  const timings = {};
  try {

    await t.test("first load: the T1 map is computed and shown", async () => {
      const t0 = Date.now();
      await page.goto(server.url);
      const first = await waitForRun(page, 0);
      timings.firstPageMs = Date.now() - t0;
      assert.equal(first.source, "computed");
      assert.equal(first.step, "t1_map");
      timings.computeMs = Number(first.ms);
      assert.ok(timings.computeMs > 0);
      assert.equal(await stepSource(page, "phantom"), "computed");
      assert.equal(await stepSource(page, "r1_smooth"), "computed");

      const px = await canvasStats(page);
      assert.ok(px.colours >= 50, `${px.colours} distinct colours on the canvas`);
      assert.ok(px.litFraction > 0.2, `${(px.litFraction * 100).toFixed(1)} % of the canvas is not background`);

      const p = await panel(page);
      assert.ok(p.entries >= 1, `entries ${p.entries}`);
      assert.deepEqual([...p.rows].sort(), ["phantom", "r1_smooth", "t1_map"]);
      assert.ok(p.misses >= 1, `misses ${p.misses}`);
      assert.ok(Number(p.quota) > 0, `storage quota ${p.quota}`);
      assert.ok(["true", "false"].includes(p.persisted), `persisted ${p.persisted}`);
      await shot(page, "1-first-load.png");
    });

    await t.test("reload: the T1 map comes from IndexedDB, much faster", async () => {
      const t0 = Date.now();
      await page.reload();
      const hit = await waitForRun(page, 0);
      timings.reloadPageMs = Date.now() - t0;
      assert.equal(hit.source, "store", "a hit from IndexedDB");
      timings.reloadMs = Number(hit.ms);
      assert.ok(
        timings.reloadMs < timings.computeMs / 5,
        `hit ${timings.reloadMs} ms vs compute ${timings.computeMs} ms`,
      );
      assert.equal(await stepSource(page, "r1_smooth"), "store");
      assert.equal(await stepSource(page, "phantom"), "store", "the phantom is cached too");
      const p = await panel(page);
      assert.ok(p.hits >= 1, `hits ${p.hits}`);
      assert.ok(p.hitsStore >= 1, `store hits ${p.hitsStore}`);
      assert.ok(p.savedMs > 0, `saved ${p.savedMs} ms`);
      assert.equal(p.entries, 3);
      // Each row says what it was made from, read from the entry's provenance after a reload.
      assert.match(p.madeFrom.phantom, /TR \d+ ms/, JSON.stringify(p.madeFrom));
      assert.match(p.madeFrom.t1_map, /α 2, 5, 10, 15° · signal f32\[[\d×]+\] .*TR \d+ ms/, JSON.stringify(p.madeFrom));
      assert.match(p.madeFrom.r1_smooth, /σ 1 vox · from t1_map/, JSON.stringify(p.madeFrom));
      const px = await canvasStats(page);
      assert.ok(px.colours >= 50 && px.litFraction > 0.2, "the map is drawn after the reload");
      await shot(page, "2-reload.png");
    });

    await t.test("a new TR computes a new map; the old TR is a hit again", async () => {
      let seq = Number((await lastResult(page)).seq);
      await page.selectOption("#tr", "20");
      const tr20 = await waitForRun(page, seq);
      assert.equal(tr20.source, "computed");
      assert.equal(tr20.tr, "20");
      timings.tr20Ms = Number(tr20.ms);
      assert.equal((await panel(page)).entries, 6);

      seq = Number(tr20.seq);
      await page.selectOption("#tr", "15");
      const back = await waitForRun(page, seq);
      assert.equal(back.tr, "15");
      assert.ok(["memory", "store"].includes(back.source), `TR 15 again: ${back.source}`);
      timings.backMs = Number(back.ms);
      assert.ok(timings.backMs < timings.tr20Ms / 5, `hit ${timings.backMs} ms vs compute ${timings.tr20Ms} ms`);
    });

    await t.test("the panel's all-time counters span the sessions (kept in IndexedDB)", async () => {
      const before = await panel(page);
      assert.ok(before.hitsAll >= before.hits, `all time ${before.hitsAll} >= this session ${before.hits}`);
      await page.reload();
      await waitForRun(page, 0);
      const after = await panel(page);
      assert.equal(after.hits, 3, "this session: the three steps read back");
      assert.ok(after.hitsAll >= before.hitsAll + 3, `all time ${after.hitsAll}: the last session's ${before.hitsAll} and this one's 3`);
      assert.ok(after.savedAll > after.savedMs, `all time saved ${after.savedAll} ms > this session's ${after.savedMs} ms`);
    });

    await t.test("the slice slider redraws the canvas", async () => {
      const before = await canvasStats(page);
      await page.fill("#slice", "28");
      await page.waitForFunction((sum) => {
        const c = document.getElementById("view");
        const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        let s = 0;
        for (let i = 0; i < data.length; i += 4) s = (Math.imul(s, 31) + ((data[i] << 16) | (data[i + 1] << 8) | data[i + 2])) | 0;
        return s !== sum;
      }, before.checksum);
      assert.match(await page.textContent("#slice-label"), /^29 \/ 64/);
      const after = await canvasStats(page);
      assert.ok(after.colours >= 50 && after.litFraction > 0.2, "slice 29 is drawn");
      // The other maps draw too.
      for (const map of ["t1sd", "r1", "signal"]) {
        await page.selectOption("#map", map);
        const m = await canvasStats(page);
        assert.notEqual(m.checksum, after.checksum, `${map} differs from T1`);
        assert.ok(m.colours >= 50, `${map}: ${m.colours} colours`);
      }
      await page.selectOption("#map", "t1");
    });

    await t.test("force recompute: the T1 map is computed again to the same values, so R1 stays a hit (same lineage key)", async () => {
      const seq = Number((await lastResult(page)).seq);
      await page.click("#force");
      const forced = await waitForRun(page, seq);
      assert.equal(forced.source, "computed");
      assert.equal(await stepSource(page, "r1_smooth"), "memory");
    });

    await t.test("clearing one type, then all: the panel empties and the next run computes", async () => {
      await page.selectOption("#clear-step", "r1_smooth");
      await page.click("#clear-type");
      await page.waitForFunction(() => ![...document.querySelectorAll("#entries tr[data-step]")].some((r) => r.dataset.step === "r1_smooth"));
      assert.deepEqual([...(await panel(page)).rows].sort(), ["phantom", "phantom", "t1_map", "t1_map"]);
      let seq = Number((await lastResult(page)).seq);
      await page.click("#run");
      const again = await waitForRun(page, seq);
      assert.equal(again.source, "memory", "the T1 map was kept");
      assert.equal(await stepSource(page, "r1_smooth"), "computed", "R1 was cleared");

      await page.click("#clear-all");
      await page.waitForFunction(() => document.getElementById("entries-count").dataset.value === "0");
      assert.equal((await panel(page)).rows.length, 0);
      await shot(page, "3-cleared.png");
      seq = Number((await lastResult(page)).seq);
      await page.click("#run");
      const fresh = await waitForRun(page, seq);
      assert.equal(fresh.source, "computed");
      assert.equal(await stepSource(page, "phantom"), "computed");
      assert.equal(await stepSource(page, "r1_smooth"), "computed");
      assert.equal((await panel(page)).entries, 3);
      await shot(page, "4-recomputed.png");
    });

    await t.test("no page errors", () => {
      assert.deepEqual(errors, []);
    });
  } finally {
    await context.close();
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
    const f = (ms) => (ms == null ? "n/a" : `${ms.toFixed(1)} ms`);
    console.log(`T1 map, first load: computed in ${f(timings.computeMs)} (page ready after ${f(timings.firstPageMs)})`);
    console.log(`T1 map, after reload: IndexedDB hit in ${f(timings.reloadMs)} (page ready after ${f(timings.reloadPageMs)})`);
    if (timings.computeMs && timings.reloadMs) {
      console.log(`reload hit is ${(timings.computeMs / timings.reloadMs).toFixed(0)}x faster than computing`);
    }
    console.log(`TR 20 computed in ${f(timings.tr20Ms)}; back to TR 15: hit in ${f(timings.backMs)}`);
  }
});

/** Starts `public_bucket` (SeaweedFS with an empty bucket anyone may read); where it is and a stop(). */
async function publicBucket() {
  const bin = path.join(TARGET, "debug/public_bucket");
  assert.ok(fs.existsSync(bin), `${bin} is missing: cargo build -p stepcache-tests --bin public_bucket`);
  const child = spawn(bin, ["demo/"], { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (d) => {
      text += d;
      if (text.includes("\n")) resolve(text.split("\n")[0]);
    });
    child.on("exit", (code) => reject(new Error(`public_bucket exited (${code}) before it was ready`)));
  });
  return { ...JSON.parse(line), stop: () => child.stdin.end() };
}

/**
 * Runs `demo_maps` (the viewer's maps, computed natively) against `bucket` with a fresh
 * local store. Returns its output, how long it took, and per step the source and key it printed.
 */
async function demoMaps(bucket, dir, extra = []) {
  const bin = path.join(TARGET, "release/demo_maps");
  assert.ok(fs.existsSync(bin), `${bin} is missing: cargo build --release -p stepcache-examples --bin demo_maps`);
  const args = ["--endpoint", bucket.endpoint, "--bucket", bucket.bucket, "--prefix", bucket.prefix];
  args.push("--access-key", bucket.accessKey, "--secret-key", bucket.secretKey, "--dir", dir, ...extra);
  const t0 = Date.now();
  const { stdout } = await promisify(execFile)(bin, args, { timeout: 120_000 });
  const ms = Date.now() - t0;
  const steps = {};
  // "<step>  <source in words>  <time> ms  <key>", e.g. "t1_map  computed  1829.363 ms  t1_map@b3:..."
  for (const m of stdout.matchAll(/^(phantom|t1_map|r1_smooth) +(.+?) +[\d.]+ ms +(\S+@b3:[0-9a-f]{64})$/gm)) {
    steps[m[1]] = { source: m[2], key: m[3] };
  }
  return { stdout, ms, steps };
}

/** A log of the worker's messages (type, progress stage, step, source), kept in the page. */
function logWorkerMessages() {
  const log = (window.workerLog = []);
  const Base = window.Worker;
  window.Worker = class extends Base {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", ({ data }) => log.push({ type: data.type, stage: data.stage, step: data.step, source: data.source }));
    }
  };
}

/** What the page shows of the latest run: each step's source, the compute stages the worker
 * reported (hashing the signal for the T1 key is not a compute), the panel's counts and keys. */
const sharedView = (page) =>
  page.evaluate(() => {
    const source = (step) => document.getElementById(`step-${step}`).dataset.source;
    const num = (id) => Number(document.getElementById(id).dataset.value);
    return {
      sources: { phantom: source("phantom"), t1_map: source("t1_map"), r1_smooth: source("r1_smooth") },
      computeStages: window.workerLog.filter((m) => m.type === "progress" && !["hash", "import"].includes(m.stage)).map((m) => m.stage),
      computes: num("computes"),
      sharedHits: num("hits-shared"),
      keys: [...document.querySelectorAll("#entries tr[data-key]")].map((tr) => tr.dataset.key).sort(),
      sharedUrl: document.getElementById("shared-url").textContent,
      summary: document.getElementById("last-result").textContent,
    };
  });

test("a bucket filled by the native program: the viewer shows its maps as shared hits, computes nothing, then reads them from IndexedDB", { timeout: 10 * 60_000 }, async (t) => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `${PKG} is missing: bash adapters/wasm/build.sh`);
  const bucket = await publicBucket();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-maps-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-e2e-shared-"));
  const server = await start({ port: 0 });
  let context;
  const errors = [];
  const timings = {};
  try {
    let native;
    await t.test("the native program computes the three maps into the bucket", async () => {
      native = await demoMaps(bucket, path.join(dir, "cache"));
      timings.nativeMs = native.ms;
      assert.deepEqual(Object.keys(native.steps).sort(), ["phantom", "r1_smooth", "t1_map"], native.stdout);
      for (const [step, { source }] of Object.entries(native.steps)) assert.equal(source, "computed", `${step}\n${native.stdout}`);
    });
    const nativeKeys = Object.values(native.steps).map((s) => s.key).sort();

    const opened = await viewerBrowser(profile, errors);
    context = opened.context;
    const page = opened.page;
    const url = `${server.url}?shared=${encodeURIComponent(bucket.url)}`;

    await t.test("a fresh viewer pointed at the bucket: three shared hits under the native keys, nothing computed", async () => {
      const t0 = Date.now();
      await page.goto(url);
      const t1 = await waitForRun(page, 0);
      timings.sharedPageMs = Date.now() - t0;
      timings.sharedT1Ms = Number(t1.ms);
      assert.equal(t1.step, "t1_map");
      assert.equal(t1.tr, "15");
      const v = await sharedView(page);
      assert.deepEqual(v.sources, { phantom: "shared", t1_map: "shared", r1_smooth: "shared" });
      assert.deepEqual(v.computeStages, [], "no step was computed in the browser");
      assert.equal(v.computes, 0);
      assert.equal(v.sharedHits, 3);
      assert.deepEqual(v.keys, nativeKeys, "the viewer keyed the steps as the native program did");
      assert.equal(v.sharedUrl, bucket.url);
      // The fit's figures come from the native program's metadata.
      assert.match(v.summary, /[\d,]+ voxels fitted, mean [\d.]+ LM iterations, 16 bootstrap refits each/);
      const px = await canvasStats(page);
      assert.ok(px.colours >= 50 && px.litFraction > 0.2, `the map is drawn: ${JSON.stringify(px)}`);
      await shot(page, "5-shared.png");
    });

    await t.test("reload: the same maps from IndexedDB, nothing computed, nothing read from the bucket", async () => {
      const t0 = Date.now();
      await page.reload();
      const t1 = await waitForRun(page, 0);
      timings.reloadPageMs = Date.now() - t0;
      timings.reloadT1Ms = Number(t1.ms);
      const v = await sharedView(page);
      assert.deepEqual(v.sources, { phantom: "store", t1_map: "store", r1_smooth: "store" });
      assert.deepEqual(v.computeStages, []);
      assert.equal(v.computes, 0);
      assert.equal(v.sharedHits, 0);
      assert.deepEqual(v.keys, nativeKeys);
    });

    await t.test("no page errors", () => {
      assert.deepEqual(errors, []);
    });
  } finally {
    await context?.close();
    await server.close();
    bucket.stop();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
    const f = (ms) => (ms == null ? "n/a" : `${ms.toFixed(1)} ms`);
    console.log(`native demo_maps (release, computing and writing the bucket): ${f(timings.nativeMs)}`);
    console.log(`shared: T1 map from the bucket in ${f(timings.sharedT1Ms)} (page ready after ${f(timings.sharedPageMs)})`);
    console.log(`after reload: T1 map from IndexedDB in ${f(timings.reloadT1Ms)} (page ready after ${f(timings.reloadPageMs)})`);
  }
});

/** The `stepcache` command (debug build) with `args`; its JSON output. */
async function stepcacheCommand(args) {
  const bin = path.join(TARGET, "debug/stepcache");
  assert.ok(fs.existsSync(bin), `${bin} is missing: cargo build -p stepcache-cli`);
  const { stdout } = await promisify(execFile)(bin, ["--json", ...args], { timeout: 120_000 });
  return JSON.parse(stdout);
}

/** A bundle's records (docs/bundle-format.md) by fingerprint hex: the entries' bytes. */
function bundleRecords(bytes) {
  const records = new Map();
  assert.equal(bytes.subarray(0, 8).toString(), "STEPBNDL");
  let at = 16;
  while (bytes[at] === 1) {
    const fingerprint = bytes.subarray(at + 1, at + 33).toString("hex");
    const len = Number(bytes.readBigUInt64LE(at + 33));
    records.set(fingerprint, bytes.subarray(at + 41, at + 41 + len));
    at += 41 + len;
  }
  assert.equal(bytes[at], 0, "the end record");
  assert.equal(at + 33, bytes.length);
  return records;
}

/** Drops `file` on the page as a user dragging it from the desktop would. */
async function dropFile(page, file) {
  // The file reaches the page through a file input of its own (test-only), then travels in
  // the drop event's DataTransfer, as a dragged file does.
  const input = await page.evaluateHandle(() => {
    const i = document.createElement("input");
    i.type = "file";
    i.hidden = true;
    document.body.append(i);
    return i;
  });
  await input.setInputFiles(file);
  await page.evaluate((i) => {
    const dt = new DataTransfer();
    dt.items.add(i.files[0]);
    i.remove();
    for (const type of ["dragenter", "dragover", "drop"]) {
      document.body.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, input);
}

test("bundles: maps the native program computed, exported by the command, dropped on the viewer are hits; the viewer's export imports natively byte for byte", { timeout: 10 * 60_000 }, async (t) => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `${PKG} is missing: bash adapters/wasm/build.sh`);
  const bucket = await publicBucket();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-bundles-"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-e2e-bundles-"));
  const server = await start({ port: 0 });
  let context;
  const errors = [];
  try {
    // TR 20: not the viewer's default, so the viewer holds none of these maps before the drop.
    const native = await demoMaps(bucket, path.join(dir, "native"), ["--tr-ms", "20"]);
    const nativeKeys = Object.values(native.steps).map((s) => s.key).sort();
    assert.equal(nativeKeys.length, 3, native.stdout);
    const nativeBundle = path.join(dir, "native.stepcache");
    const exported = await stepcacheCommand(["--dir", path.join(dir, "native"), "export", nativeBundle]);
    assert.equal(exported.entries, 3, JSON.stringify(exported));
    const nativeRecords = bundleRecords(fs.readFileSync(nativeBundle));

    const opened = await viewerBrowser(profile, errors, { acceptDownloads: true });
    context = opened.context;
    const page = opened.page;
    await page.goto(server.url);
    const first = await waitForRun(page, 0);
    assert.equal(first.tr, "15");

    await t.test("dropped on the viewer: the TR 20 maps show at once, nothing computed", async () => {
      await page.evaluate(() => (window.workerLog.length = 0));
      await dropFile(page, nativeBundle);
      const run = await waitForRun(page, Number(first.seq));
      assert.equal(run.tr, "20", "the viewer switched to the bundle's TR");
      const v = await sharedView(page);
      for (const [step, source] of Object.entries(v.sources)) assert.ok(["memory", "store"].includes(source), `${step} from ${source}`);
      assert.deepEqual(v.computeStages, [], "nothing computed after the import");
      assert.ok(v.keys.length === 6 && nativeKeys.every((k) => v.keys.includes(k)), `the native keys are in the panel: ${v.keys}`);
      assert.match(await page.textContent("#bundle-result"), /native\.stepcache: 3 imported, 0 already here/);
      const px = await canvasStats(page);
      assert.ok(px.colours >= 50 && px.litFraction > 0.2, `the map is drawn: ${JSON.stringify(px)}`);
      await shot(page, "6-bundle-dropped.png");
    });

    await t.test("picked with the file input: the same bundle again is all present", async () => {
      const seq = Number((await lastResult(page)).seq);
      await page.setInputFiles("#bundle-file", nativeBundle);
      await waitForRun(page, seq);
      assert.match(await page.textContent("#bundle-result"), /native\.stepcache: 0 imported, 3 already here/);
    });

    await t.test("exported by the viewer, imported natively: the native entries come back byte for byte", async () => {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-bundle")]);
      assert.equal(download.suggestedFilename(), "stepcache-demo.stepcache");
      const browserBundle = path.join(dir, "browser.stepcache");
      await download.saveAs(browserBundle);
      const browserRecords = bundleRecords(fs.readFileSync(browserBundle));
      assert.equal(browserRecords.size, 6, "TR 15 computed here, TR 20 imported");
      for (const [fingerprint, entry] of nativeRecords) {
        assert.ok(browserRecords.get(fingerprint)?.equals(entry), `entry ${fingerprint} left the browser as it came`);
      }
      const back = path.join(dir, "back");
      const imported = await stepcacheCommand(["--dir", back, "import", browserBundle]);
      assert.deepEqual([imported.imported, imported.refused.length], [6, 0], JSON.stringify(imported));
      const again = path.join(dir, "again.stepcache");
      await stepcacheCommand(["--dir", back, "export", again]);
      const againRecords = bundleRecords(fs.readFileSync(again));
      assert.equal(againRecords.size, 6);
      for (const [fingerprint, entry] of browserRecords) {
        assert.ok(againRecords.get(fingerprint)?.equals(entry), `entry ${fingerprint}: the native cache holds the browser's bytes`);
      }
    });

    await t.test("no page errors", () => {
      assert.deepEqual(errors, []);
    });
  } finally {
    await context?.close();
    await server.close();
    bucket.stop();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** Waits until the image `name` is open, the maps of `steps` have arrived whole and the
 * NIfTI panel is idle; returns the page's test hook (window.__viewer). */
async function waitForMaps(page, name, steps) {
  await page.waitForFunction(
    ([n, wanted]) => {
      const v = window.__viewer;
      const arrived = (step) => v.events.some((e) => e.type === "map" && e.step === step);
      return v.image?.name === n && wanted.every(arrived) && document.getElementById("nifti-panel").dataset.busy === "0";
    },
    [name, steps],
    { timeout: RUN_TIMEOUT, polling: 50 },
  );
  return page.evaluate(() => window.__viewer);
}

/** The RGB of canvas pixel (x, y). */
const pixel = (page, x, y) =>
  page.evaluate(([px, py]) => Array.from(document.getElementById("view").getContext("2d").getImageData(px, py, 1, 1).data.slice(0, 3)), [x, y]);

/** Clicks "Save map as NIfTI" and returns the downloaded file's name and bytes. */
async function saveMap(page, dir) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#nifti-save")]);
  const file = path.join(dir, download.suggestedFilename());
  await download.saveAs(file);
  const bytes = fs.readFileSync(file);
  return { name: download.suggestedFilename(), buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
}

/** Picks a file made in memory with the NIfTI panel's file input. */
const pick = (page, name, buffer) => page.setInputFiles("#nifti-file", { name, mimeType: "application/octet-stream", buffer });

/** The compute stages of NIfTI steps the worker reported since the log was last emptied. */
const niftiComputes = (page) => page.evaluate(() => window.workerLog.filter((m) => m.type === "progress" && m.stage?.startsWith("nifti_")).map((m) => m.stage));

test("NIfTI images: shown, their maps computed once, saved as NIfTI; bad files refused; after a reload the maps come from the cache, slice first", { timeout: 15 * 60_000 }, async (t) => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `${PKG} is missing: bash adapters/wasm/build.sh`);
  const server = await start({ port: 0 });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-e2e-nifti-"));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-nifti-"));
  const cube = cubeImage(128, 128, 48); // 3 MiB of float32: its maps are read by blocks
  const vfa = vfaSeries();
  const vfaPath = path.join(dir, "vfa.nii.gz");
  fs.writeFileSync(vfaPath, vfa.file);
  const errors = [];
  let context;
  try {
    const opened = await viewerBrowser(profile, errors, { acceptDownloads: true });
    context = opened.context;
    const page = opened.page;
    await page.goto(server.url);
    await waitForRun(page, 0);

    await t.test("a 3D image picked with the file input: shown in its own window, its two maps computed once", async () => {
      await pick(page, "cube.nii", cube.file);
      const v = await waitForMaps(page, "cube.nii", ["nifti_smooth", "nifti_gradient"]);
      assert.deepEqual(v.image.shape, [1, 48, 128, 128]);
      assert.equal(v.image.datatype, "float32");
      assert.match(v.image.fingerprint, /^b3:[0-9a-f]{64}$/);
      assert.deepEqual(v.events.map((e) => [e.type, e.step, e.source]), [
        ["map", "nifti_smooth", "computed"],
        ["map", "nifti_gradient", "computed"],
      ]);
      assert.equal(await page.inputValue("#map"), "image");
      assert.deepEqual([await page.inputValue("#win-min"), await page.inputValue("#win-max")], ["100", "1000"], "the image's own range");
      // 128 × 128 voxels of 1.5 mm fill the canvas: its middle is in the cube, its left edge is not.
      assert.deepEqual(await pixel(page, 256, 256), [0xfd, 0xe7, 0x25], "the cube: the top of viridis");
      assert.deepEqual(await pixel(page, 40, 256), [0x44, 0x01, 0x54], "the background: the bottom of viridis");
      await page.selectOption("#map", "gradient");
      assert.deepEqual(await pixel(page, 256, 256), [0x44, 0x01, 0x54], "no gradient inside the cube");
      assert.ok((await pixel(page, 128, 256)).reduce((a, c) => a + c, 0) > 300, "its edge is bright");
      await shot(page, "7-nifti-gradient.png");
    });

    await t.test("the smoothed map saved as NIfTI reads back: float32 on the image's grid, the values the worker computed", async () => {
      await page.selectOption("#map", "smooth");
      const saved = await saveMap(page, dir);
      assert.equal(saved.name, "cube_smooth.nii");
      const header = readHeader(saved.buffer);
      const source = readHeader(cube.file.buffer.slice(cube.file.byteOffset, cube.file.byteOffset + cube.file.byteLength));
      assert.deepEqual(header.dims.slice(0, 4), [3, 128, 128, 48]);
      assert.deepEqual(header.pixDims.slice(1, 4), source.pixDims.slice(1, 4));
      assert.deepEqual([header.qform_code, header.sform_code], [source.qform_code, source.sform_code]);
      assert.deepEqual(header.affine, source.affine);
      assert.equal(header.datatypeCode, 16);
      const values = new Float32Array(readImage(header, saved.buffer));
      assert.deepEqual(values, smoothVolume(cube.values, [48, 128, 128], 1));
    });

    await t.test("a 4D series dropped: the T1 form refuses bad input; the T1 map has the series' T1 values and saves", async () => {
      await dropFile(page, vfaPath);
      const v = await waitForMaps(page, "vfa.nii.gz", ["nifti_smooth", "nifti_gradient"]);
      assert.deepEqual(v.image.shape, [4, 12, 32, 32]);
      assert.equal(v.image.datatype, "int16");
      assert.ok(await page.isVisible("#nifti-vfa"));
      const refused = async (flips, tr, pattern) => {
        await page.fill("#nifti-flips", flips);
        await page.fill("#nifti-tr", tr);
        await page.click("#nifti-t1");
        assert.match(await page.textContent("#nifti-error"), pattern);
      };
      await refused("3, 6, 12", "15", /3 flip angles for 4 volumes/);
      await refused("3, 6, -12, 18", "15", /flip angle "-12"/);
      await refused("3, 6, 12, 18", "0", /TR must be a positive number/);
      assert.ok(!(await page.evaluate(() => window.__viewer.events.some((e) => e.step === "nifti_t1"))), "nothing asked of the worker");
      await page.fill("#nifti-flips", VFA.flipDeg.join(", "));
      await page.fill("#nifti-tr", String(VFA.trMs));
      await page.click("#nifti-t1");
      const after = await waitForMaps(page, "vfa.nii.gz", ["nifti_t1"]);
      assert.ok(await page.isHidden("#nifti-error"));
      assert.deepEqual(after.events.filter((e) => e.step === "nifti_t1").map((e) => [e.type, e.source]), [["map", "computed"]]);
      await page.selectOption("#map", "t1");
      await shot(page, "8-nifti-t1.png");
      const saved = await saveMap(page, dir);
      assert.equal(saved.name, "vfa_t1.nii");
      const t1 = readNifti(saved.buffer);
      assert.deepEqual(t1.shape, [1, 12, 32, 32]);
      t1.data.forEach((got, i) => {
        const want = vfa.t1[i];
        assert.ok(want ? Math.abs(got - want) < 0.01 * want : got === 0, `voxel ${i}: T1 ${got} for ${want}`);
      });
    });

    await t.test("bad files: a message says why, and the viewer keeps the image it shows", async () => {
      const before = await canvasStats(page);
      const bad = {
        "notes.nii": Buffer.from("not an image at all\n".repeat(40)),
        "cut.nii": cube.file.subarray(0, cube.file.length >> 1),
        "complex.nii": niftiFile({ dims: [4, 4, 4], values: new Float32Array(64), datatype: "complex64" }),
        "5d.nii.gz": niftiFile({ dims: [4, 4, 4, 2, 3], values: new Float32Array(384), gzip: true }),
      };
      const messages = {
        "notes.nii": /^notes\.nii: this is not a NIfTI image/,
        "cut.nii": /^cut\.nii: the file is cut short/,
        "complex.nii": /^complex\.nii: datatype code 32: not supported/,
        "5d.nii.gz": /^5d\.nii\.gz: the image has 5 dimensions; the viewer opens 3D and 4D images/,
      };
      for (const [name, bytes] of Object.entries(bad)) {
        await pick(page, name, bytes);
        await page.waitForFunction((n) => window.__viewer.error.startsWith(`${n}:`), name);
        assert.match(await page.textContent("#nifti-error"), messages[name]);
        assert.ok(await page.isVisible("#nifti-error"));
      }
      const junk = path.join(dir, "dropped.nii");
      fs.writeFileSync(junk, Buffer.alloc(1000, 7));
      await dropFile(page, junk);
      await page.waitForFunction(() => window.__viewer.error.startsWith("dropped.nii: this is not a NIfTI image"));
      await shot(page, "9-nifti-refused.png");
      assert.equal(await page.evaluate(() => window.__viewer.image.name), "vfa.nii.gz", "the image on show stays");
      assert.equal((await canvasStats(page)).checksum, before.checksum, "and so does the canvas");
    });

    await t.test("after a reload the same files show their maps from the cache: the slice on show first, nothing computed", async () => {
      await page.reload();
      await waitForRun(page, 0);
      await page.evaluate(() => (window.workerLog.length = 0));
      await pick(page, "cube.nii", cube.file);
      const v = await waitForMaps(page, "cube.nii", ["nifti_smooth", "nifti_gradient"]);
      assert.deepEqual(v.events.map((e) => [e.type, e.step]), [
        ["slice", "nifti_smooth"],
        ["slice", "nifti_gradient"],
        ["map", "nifti_smooth"],
        ["map", "nifti_gradient"],
      ], "a region read of each map's slice before the whole maps");
      // From the store, both: reading a slice of a 3 MiB map read its blocks, not the whole map into memory.
      assert.deepEqual(v.events.map((e) => e.source), ["store", "store", "store", "store"]);
      assert.equal(v.events[0].z, 24, "the middle axial slice, on show");
      assert.deepEqual(await niftiComputes(page), [], "no NIfTI step computed");
      assert.deepEqual(await pixel(page, 256, 256), [0xfd, 0xe7, 0x25], "the image is shown");

      // The series: the T1 map cached for this file comes back with its flip angles and TR.
      await dropFile(page, vfaPath);
      const series = await waitForMaps(page, "vfa.nii.gz", ["nifti_smooth", "nifti_gradient", "nifti_t1"]);
      assert.deepEqual(series.events.filter((e) => e.step === "nifti_t1").map((e) => e.type), ["slice", "map"]);
      for (const e of series.events) assert.ok(["store", "memory"].includes(e.source), `${e.type} ${e.step} from ${e.source}`);
      assert.equal(await page.inputValue("#nifti-flips"), VFA.flipDeg.join(", "));
      assert.equal(await page.inputValue("#nifti-tr"), String(VFA.trMs));
      assert.deepEqual(await niftiComputes(page), []);
      await page.selectOption("#map", "t1");
      await shot(page, "10-nifti-cached.png");
    });

    await t.test("no page errors", () => {
      assert.deepEqual(errors, []);
    });
  } finally {
    await context?.close();
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
