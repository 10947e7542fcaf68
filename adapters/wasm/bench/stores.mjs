// Put and get at every size a viewer meets, through stepcache on OPFS and on IndexedDB and
// through their peers (raw IndexedDB, idb-keyval, a raw OPFS file), in a dedicated worker
// and in a page of one headless Chromium run (stores.js); prints medians and ratios as
// markdown tables.
// Usage: node stores.mjs [sizes in MiB=1,4,16,64] [repeats=9]   (after: bash ../build.sh; npm ci)
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const sizes = (process.argv[2] ?? "1,4,16,64").split(",").map(Number);
const repeats = Number(process.argv[3] ?? 9);
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const url = req.url.split("?")[0];
  const file = url.startsWith("/pkg/") ? path.join(here, "..", url) : path.join(here, url);
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(data);
  });
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(e));
  await page.goto(`http://127.0.0.1:${server.address().port}/stores.html`);
  await page.waitForFunction(() => window.ready);
  for (const where of ["worker", "page"]) {
    const all = await page.evaluate(([w, s, n]) => (w === "worker" ? window.benchWorker(s, n) : window.benchPage(s, n)), [where, sizes, repeats]);
    console.log(`\nin a ${where}: Float32Array, medians of ${repeats} shuffled rounds (ms), Chromium ${browser.version()}`);
    console.log("| MiB | op | stepcache OPFS | stepcache IndexedDB | raw IndexedDB | idb-keyval | raw OPFS file | OPFS / raw IDB | OPFS / idb-keyval | IDB / raw IDB |");
    console.log("|---|---|---|---|---|---|---|---|---|---|");
    for (const mib of sizes) {
      const t = all[mib];
      for (const op of ["Put", "Get"]) {
        const m = (c) => median(t[`${c}${op}`]);
        const ratio = (a, b) => `${(m(a) / m(b)).toFixed(2)}x`;
        console.log(`| ${mib} | ${op.toLowerCase()} | ${m("scOpfs").toFixed(1)} | ${m("scIdb").toFixed(1)} | ${m("rawIdb").toFixed(1)} | ` +
          `${m("kv").toFixed(1)} | ${m("rawOpfs").toFixed(1)} | ${ratio("scOpfs", "rawIdb")} | ${ratio("scOpfs", "kv")} | ${ratio("scIdb", "rawIdb")} |`);
      }
    }
  }
} finally {
  await browser.close();
  server.close();
}
