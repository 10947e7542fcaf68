// The demo viewer end to end, in headless Chromium with a persistent profile (so IndexedDB
// survives the reload): first load computes the T1 map, a reload reads it from IndexedDB
// much faster, a new TR computes a new map and the old TR is a hit again, the slice slider
// redraws, clearing one type and all types empties the cache, force recomputes.
// Then the shared tier: a native program (examples/demo_maps.rs) computes the same maps
// into a bucket on a SeaweedFS server, and a fresh viewer pointed at the bucket shows them
// as shared hits without computing anything, then from IndexedDB after a reload.
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

import { start, PKG } from "../serve.mjs";

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

test("the demo viewer computes, caches, reloads from IndexedDB and manages its cache", { timeout: 15 * 60_000 }, async (t) => {
  assert.ok(fs.existsSync(path.join(PKG, "index.js")), `${PKG} is missing: bash adapters/wasm/build.sh`);
  const server = await start({ port: 0 });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "stepcache-demo-e2e-"));
  const context = await chromium.launchPersistentContext(profile, LAUNCH);
  const errors = [];
  const timings = {};
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
    });
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

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

    context = await chromium.launchPersistentContext(profile, LAUNCH);
    await context.addInitScript(logWorkerMessages);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
    });
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
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

    context = await chromium.launchPersistentContext(profile, { ...LAUNCH, acceptDownloads: true });
    await context.addInitScript(logWorkerMessages);
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e}`));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console.error: ${m.text()}`);
    });
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
