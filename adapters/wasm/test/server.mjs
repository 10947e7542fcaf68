// A tiny static file server for the browser tests: no dependencies, 127.0.0.1 only,
// an ephemeral port, correct MIME types (application/wasm matters for streaming
// compilation), no caching (so a rebuilt package is always what the page loads).
// `/hang` is never answered: a test worker that must stop dead without burning a core
// blocks on it with a synchronous request (scenarios.js, `opKilledAtCall`).
//
//   import { serve } from "./server.mjs";
//   const server = await serve("/path/to/root");   // { url, port, close() }
//
// Run directly to browse the pages by hand: `node server.mjs [root]` (default: ..).

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const MIME = {
  ".wasm": "application/wasm",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** The MIME type of a file name (application/octet-stream when unknown). */
export function mimeOf(file) {
  return MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/**
 * Serves the files under `root` on 127.0.0.1 at an ephemeral port.
 * Resolves to { url: "http://127.0.0.1:PORT", origin, port, close(): Promise<void> }.
 */
export function serve(root) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad request");
      return;
    }
    // Left open until the client goes or close() ends every connection.
    if (pathname === "/hang") return;
    let file = path.join(base, pathname);
    // Never serve anything outside the root.
    if (file !== base && !file.startsWith(base + path.sep)) {
      res.writeHead(403).end("forbidden");
      return;
    }
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, "index.html");
        st = fs.existsSync(file) ? fs.statSync(file) : null;
      }
      if (err || !st || !st.isFile()) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${pathname}`);
        return;
      }
      res.writeHead(200, {
        "content-type": mimeOf(file),
        "content-length": st.size,
        "cache-control": "no-store",
      });
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      fs.createReadStream(file).pipe(res);
    });
  });
  // Keep-alive sockets would hold close() open.
  server.keepAliveTimeout = 1000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      const url = `http://127.0.0.1:${port}`;
      resolve({
        url,
        origin: url,
        port,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
  const { url } = await serve(root);
  console.log(`serving ${path.resolve(root)} at ${url}/  (pages: ${url}/test/pages/index.html)`);
}
