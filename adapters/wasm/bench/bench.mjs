// Puts and gets a large Float32Array through stepcache and through raw IndexedDB in one
// headless Chromium run, and prints medians and ratios as a markdown table.
// Usage: node bench.mjs [MiB=64] [repeats=5]   (after: bash ../build.sh; npm ci)
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const mib = Number(process.argv[2] ?? 64);
const repeats = Number(process.argv[3] ?? 5);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const url = req.url.split("?")[0];
  const file = url.startsWith("/pkg/") ? path.join(here, "..", url) : path.join(here, url);
  fs.readFile(file, (err, data) => {
    if (err) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(data);
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(e));
  await page.goto(`http://127.0.0.1:${server.address().port}/bench.html`);
  await page.waitForFunction(() => window.ready);
  const times = await page.evaluate(([m, n]) => window.bench(m, n), [mib, repeats]);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const gbs = (ms) => ((mib * 1048576) / (ms / 1000) / 1e9).toFixed(2);
  // Two ratios: of the medians, and the median of the ratios within each round (paired).
  const row = (what, name, peer, peerName) => {
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
  row("raw IndexedDB put, 4 MiB chunks", "chunkedPut", "raw IndexedDB put", "rawPut");
  row("raw IndexedDB get, 4 MiB chunks", "chunkedGet", "raw IndexedDB get", "rawGet");
  row("stepcache put, compressed", "scPutCompressed", "raw IndexedDB put", "rawPut");
  row("stepcache get, compressed", "scGetCompressed", "raw IndexedDB get", "rawGet");
  row("stepcache memory-tier hit", "scMemoryHit", "one copy (slice)", "copyOnly");
  row("stepcache memory-tier hit, 1 MiB, 20 in a row", "smallMemoryHit", "one copy (slice), 20 in a row", "smallCopyOnly");
  speed("fingerprintBytes (wasm)", "fingerprint");
  const extraUs = (1000 * (median(times.smallMemoryHit) - median(times.smallCopyOnly))) / 20;
  console.log(`| a 1 MiB memory-tier hit beyond its copy | ${extraUs.toFixed(0)} µs | | | | |`);
  speed("key with the array as a parameter", "keyWithArray");
} finally {
  await browser.close();
  server.close();
}
