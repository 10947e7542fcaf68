// Put and get at every size a viewer meets, through stepcache on OPFS and on IndexedDB and
// through their peers (raw IndexedDB, idb-keyval, a raw OPFS file, a raw OPFS atomic
// replace), in a dedicated worker and in a page of one headless Chromium run (stores.js);
// prints medians and ratios as markdown tables.
// Usage: node stores.mjs [sizes in MiB=1,4,16,64] [repeats=9]   (after: bash ../build.sh; npm ci)
import { launch, median, serve } from "./harness.mjs";

const sizes = (process.argv[2] ?? "1,4,16,64").split(",").map(Number);
const repeats = Number(process.argv[3] ?? 9);
const server = await serve();
const browser = await launch();
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => console.error(e));
  await page.goto(`http://127.0.0.1:${server.address().port}/stores.html`);
  await page.waitForFunction(() => window.ready);
  for (const where of ["worker", "page"]) {
    const all = await page.evaluate(([w, s, n]) => (w === "worker" ? window.benchWorker(s, n) : window.benchPage(s, n)), [where, sizes, repeats]);
    console.log(`\nin a ${where}: Float32Array, medians of ${repeats} shuffled rounds (ms), Chromium ${browser.version()}`);
    console.log("| MiB | op | stepcache OPFS | stepcache IndexedDB | raw IndexedDB | idb-keyval | raw OPFS file | raw OPFS replace | OPFS / raw IDB | OPFS / idb-keyval | IDB / raw IDB | OPFS / raw replace |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const mib of sizes) {
      const t = all[mib];
      for (const op of ["Put", "Get"]) {
        const m = (c) => median(t[`${c}${op}`]);
        const ratio = (a, b) => `${(m(a) / m(b)).toFixed(2)}x`;
        // A replace is a put; its get is the raw OPFS file's.
        const replace = op === "Put" ? [m("rawReplace").toFixed(1), ratio("scOpfs", "rawReplace")] : ["", ""];
        console.log(`| ${mib} | ${op.toLowerCase()} | ${m("scOpfs").toFixed(1)} | ${m("scIdb").toFixed(1)} | ${m("rawIdb").toFixed(1)} | ` +
          `${m("kv").toFixed(1)} | ${m("rawOpfs").toFixed(1)} | ${replace[0]} | ${ratio("scOpfs", "rawIdb")} | ${ratio("scOpfs", "kv")} | ` +
          `${ratio("scIdb", "rawIdb")} | ${replace[1]} |`);
      }
    }
  }
} finally {
  await browser.close();
  server.close();
}
