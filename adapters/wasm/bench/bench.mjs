// Puts and gets a large Float32Array through stepcache and through raw IndexedDB in one
// headless Chromium run, and prints medians and ratios as a markdown table; then a hit of
// the shared tier (a SeaweedFS bucket that shared_fixture starts and fills natively)
// against a raw fetch of the same object.
// Usage: node bench.mjs [MiB=64] [repeats=5] [pairs=60]   (after: bash ../build.sh; npm ci;
// cargo build -p stepcache-tests --bin shared_fixture)
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { launch, median, serve } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const mib = Number(process.argv[2] ?? 64);
const repeats = Number(process.argv[3] ?? 5);
const pairRounds = Number(process.argv[4] ?? 60);
const server = await serve();
const browser = await launch();
try {
  const page = await browser.newPage();
  // Minor page faults of the renderer processes so far (Linux; 0 elsewhere).
  await page.exposeFunction("pageFaults", () => {
    let sum = 0;
    for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--type=renderer")) continue;
        sum += Number(fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[7]);
      } catch {
        // Gone, or not ours to read.
      }
    }
    return sum;
  });
  page.on("pageerror", (e) => console.error(e));
  await page.goto(`http://127.0.0.1:${server.address().port}/bench.html`);
  await page.waitForFunction(() => window.ready);
  const times = await page.evaluate(([m, n, p]) => window.bench(m, n, p), [mib, repeats, pairRounds]);
  const gbs = (ms) => ((mib * 1048576) / (ms / 1000) / 1e9).toFixed(2);
  // Two ratios: of the medians, and the median of the ratios within each round (paired).
  const row = (what, name, peer, peerName) => {
    // A peer left out (a raw IndexedDB record over Chromium's limit): no row.
    if (!times[name]?.length || !times[peerName]?.length) return;
    const ms = median(times[name]);
    const peerMs = median(times[peerName]);
    const paired = median(times[name].map((t, i) => t / times[peerName][i]));
    console.log(`| ${what} | ${ms.toFixed(1)} | ${peer} | ${peerMs.toFixed(1)} | ${(ms / peerMs).toFixed(2)}x | ${paired.toFixed(2)}x |`);
  };
  const speed = (what, name) => {
    const ms = median(times[name]);
    console.log(`| ${what} | ${ms.toFixed(1)} | ${gbs(ms)} GB/s | | | |`);
  };
  console.log(`${mib} MiB Float32Array, medians of ${repeats}, Chromium ${browser.version()}`);
  console.log("| what | ms | against | ms | ratio | paired ratio |");
  console.log("|---|---|---|---|---|---|");
  row("stepcache put (to IndexedDB)", "scPut", "raw IndexedDB put", "rawPut");
  row("stepcache get (from IndexedDB, verified)", "scGet", "raw IndexedDB get", "rawGet");
  row("stepcache put (to IndexedDB)", "scPut", "raw IndexedDB put, 4 MiB chunks", "chunkedPut");
  row("stepcache get (from IndexedDB, verified)", "scGet", "raw IndexedDB get, 4 MiB chunks", "chunkedGet");
  row("raw IndexedDB put, 4 MiB chunks", "chunkedPut", "raw IndexedDB put", "rawPut");
  row("raw IndexedDB get, 4 MiB chunks", "chunkedGet", "raw IndexedDB get", "rawGet");
  row("stepcache put, compressed", "scPutCompressed", "raw IndexedDB put", "rawPut");
  row("stepcache get, compressed", "scGetCompressed", "raw IndexedDB get", "rawGet");
  row("stepcache getRegion of one 1 MiB slice (verified)", "scRegion", "stepcache get of the whole map", "scGet");
  row("stepcache getRegion of one 1 MiB slice (verified)", "scRegion", "raw IndexedDB get of the 4 MiB chunk holding it", "chunkGetOne");
  row("stepcache getRegion of one 1 MiB slice on OPFS (verified)", "scOpfsRegion", "stepcache get of the whole map on OPFS", "scOpfsGet");
  console.log(`| stepcache has() of the stored entry | ${median(times.scHas).toFixed(1)} | | | | |`);
  speed("fingerprintBytes (wasm)", "fingerprint");
  speed("key with the array as a parameter", "keyWithArray");
  // The memory-tier hit against one copy over many alternating pairs (bench.html): the
  // median of the pairs' ratios and of their differences, with a distribution-free 95%
  // confidence interval for each median (order statistics: x(k)..x(n+1-k), with k the
  // largest rank whose binomial(n, 1/2) tail below it is at most 2.5%).
  const interval = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const n = s.length;
    let k = 0;
    for (let i = 0, p = 2 ** -n, tail = 0; tail + p <= 0.025; i++, p *= (n - i + 1) / i) { tail += p; k = i + 1; }
    return [s[Math.floor(n / 2)], s[Math.max(k - 1, 0)], s[n - Math.max(k, 1)]];
  };
  console.log();
  console.log(`memory-tier hit against one copy, ${pairRounds} rounds of the three (median [95% confidence interval])`);
  console.log("| value | hit ms | copy ms | copy out of wasm memory ms | hit / copy | hit / wasm copy | hit - wasm copy, per hit | page faults: hit, copy, wasm copy |");
  console.log("|---|---|---|---|---|---|---|---|");
  const fmt = ([m, lo, hi], digits, unit = "") => `${m.toFixed(digits)}${unit} [${lo.toFixed(digits)} to ${hi.toFixed(digits)}]`;
  for (const [size, { times: ts, faults, per }] of Object.entries(times.pairs)) {
    const ms = (i) => median(ts.map((t) => t[i])).toFixed(2);
    console.log(`| ${size} | ${ms(0)} | ${ms(1)} | ${ms(2)} | ${fmt(interval(ts.map((t) => t[0] / t[1])), 3, "x")} | ` +
      `${fmt(interval(ts.map((t) => t[0] / t[2])), 3, "x")} | ${fmt(interval(ts.map((t) => (1000 * (t[0] - t[2])) / per)), 1, " µs")} | ` +
      `${[0, 1, 2].map((i) => median(faults.map((f) => f[i])).toFixed(0)).join(", ")} |`);
  }
  // The shared tier: a bucket filled by the native cache, read over fetch.
  const fixture = spawn(path.resolve(here, "../../../target/debug/shared_fixture"), [String(mib)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  try {
    const line = await new Promise((resolve, reject) => {
      let text = "";
      fixture.stdout.on("data", (d) => {
        text += d;
        if (text.includes("\n")) resolve(text.split("\n")[0]);
      });
      fixture.on("exit", (code) => reject(new Error(`shared_fixture exited (${code})`)));
    });
    const shared = await page.evaluate(([u, m, n]) => window.benchShared(u, m, n), [JSON.parse(line).url, mib, repeats]);
    Object.assign(times, shared);
    console.log();
    console.log(`the shared tier: ${mib} MiB Float32Array from SeaweedFS on this machine, medians of ${repeats}`);
    console.log("| what | ms | against | ms | ratio | paired ratio |");
    console.log("|---|---|---|---|---|---|");
    row("stepcache shared hit (fetch, verify; kept in IndexedDB in the background)", "sharedHit", "raw fetch into an ArrayBuffer", "rawFetch");
    console.log(`| then in IndexedDB after | ${median(times.promoted).toFixed(1)} | | | | |`);
    row("the next get (from IndexedDB)", "nextGet", "raw IndexedDB get", "rawGet");
  } finally {
    fixture.stdin.end();
  }
} finally {
  await browser.close();
  server.close();
}
