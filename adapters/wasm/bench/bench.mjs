// Puts and gets a large Float32Array through stepcache and through raw IndexedDB in one
// headless Chromium run, and prints medians as a markdown table.
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
  const r = await page.evaluate(([m, n]) => window.bench(m, n), [mib, repeats]);
  const gbs = (ms) => ((mib * 1048576) / (ms / 1000) / 1e9).toFixed(2);
  const row = (what, ms, peer, peerMs) =>
    console.log(`| ${what} | ${ms.toFixed(1)} | ${peer} | ${peerMs === undefined ? "" : peerMs.toFixed(1)} | ${peerMs === undefined ? "" : (ms / peerMs).toFixed(2) + "x"} |`);
  console.log(`${mib} MiB Float32Array, medians of ${repeats}, Chromium ${browser.version()}`);
  console.log("| what | ms | against | ms | ratio |");
  console.log("|---|---|---|---|---|");
  row("stepcache put (to IndexedDB)", r.scPut, "raw IndexedDB put", r.rawPut);
  row("stepcache get (from IndexedDB, verified)", r.scGet, "raw IndexedDB get", r.rawGet);
  row("raw IndexedDB put, 4 MiB chunks", r.chunkedPut, "raw IndexedDB put", r.rawPut);
  row("raw IndexedDB get, 4 MiB chunks", r.chunkedGet, "raw IndexedDB get", r.rawGet);
  row("stepcache memory-tier hit", r.scMemoryHit, "one copy (slice)", r.copyOnly);
  console.log(`| fingerprintBytes (wasm) | ${r.fingerprint.toFixed(1)} | ${gbs(r.fingerprint)} GB/s | | |`);
  console.log(`| key with the array as a parameter | ${r.keyWithArray.toFixed(1)} | ${gbs(r.keyWithArray)} GB/s | | |`);
} finally {
  await browser.close();
  server.close();
}
