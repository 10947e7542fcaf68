// The demo's static server: no dependencies, 127.0.0.1 only. Serves www/ at / and the
// built npm package (adapters/wasm/pkg/) at /pkg/, with the MIME types browsers insist on
// (application/wasm for streaming compilation, text/javascript for module workers). Of
// www/node_modules/ it serves only the packages the page imports (BROWSER_PACKAGES).
//
//   node serve.mjs                 port $PORT or 8080, or a free port if that one is taken
//   import { start } from "./serve.mjs";
//   const server = await start({ port: 0 });   // { url, port, close() }

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WWW = HERE;
export const PKG = path.resolve(HERE, "../adapters/wasm/pkg");

const MIME = {
  ".wasm": "application/wasm",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
};

/**
 * The packages under node_modules/ that the page imports (index.html's import map):
 * nifti-reader-js and fflate, which it imports. The rest (playwright-core, for the tests)
 * is not part of the site.
 */
const BROWSER_PACKAGES = ["nifti-reader-js", "fflate"];
const inBrowserPackage = (pathname) => BROWSER_PACKAGES.some((name) => pathname.startsWith(`/node_modules/${name}/`));

/** The MIME type of a file name (application/octet-stream when unknown). */
export function mimeOf(file) {
  return MIME[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** The file a URL path names, or null if it is outside the served trees. */
function resolve(pathname, roots) {
  let base = roots.www;
  let rest = pathname;
  if (pathname === "/pkg" || pathname.startsWith("/pkg/")) {
    base = roots.pkg;
    rest = pathname.slice("/pkg".length) || "/";
  } else if (/^\/(node_modules|test)(\/|$)/.test(pathname) && !inBrowserPackage(pathname)) {
    return null; // dev dependencies and test output are not part of the site
  }
  if (rest.split("/").some((part) => part.startsWith("."))) return null; // dotfiles, ..
  const file = path.join(base, rest);
  if (file !== base && !file.startsWith(base + path.sep)) return null;
  return { base, file };
}

function handler(roots, log) {
  return (req, res) => {
    const started = Date.now();
    const done = (status) => log?.(`${req.method} ${req.url} ${status} ${Date.now() - started}ms`);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return done(405);
    }
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
    } catch {
      res.writeHead(400, { "content-type": "text/plain" }).end("bad request");
      return done(400);
    }
    const target = resolve(pathname, roots);
    if (!target) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${pathname}`);
      return done(404);
    }
    let { file } = target;
    fs.stat(file, (err, st) => {
      if (!err && st.isDirectory()) {
        file = path.join(file, "index.html");
        try {
          st = fs.statSync(file);
        } catch {
          st = null;
        }
      }
      if (err || !st || !st.isFile()) {
        const hint =
          target.base === roots.pkg ? " (build the package: bash adapters/wasm/build.sh)"
          : inBrowserPackage(pathname) ? " (install the page's packages: npm ci --omit=dev in www/)"
          : "";
        res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${pathname}${hint}`);
        return done(404);
      }
      res.writeHead(200, {
        "content-type": mimeOf(file),
        "content-length": st.size,
        "cache-control": "no-cache",
        "x-content-type-options": "nosniff",
      });
      if (req.method === "HEAD") {
        res.end();
        return done(200);
      }
      const stream = fs.createReadStream(file);
      stream.on("error", () => res.destroy());
      stream.pipe(res);
      done(200);
    });
  };
}

function listen(server, port, host) {
  return new Promise((resolve, reject) => {
    const onError = (e) => {
      server.off("listening", onListening);
      reject(e);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve(server.address().port);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

/**
 * Starts the server. Options: port (default $PORT or 8080; 0 = any free port), host
 * (127.0.0.1), fallback (true: a free port if `port` is taken), www and pkg roots, log.
 * Resolves to { url: "http://127.0.0.1:PORT/", port, close(): Promise<void> }.
 */
export async function start(options = {}) {
  const {
    port = Number(process.env.PORT ?? 8080),
    host = "127.0.0.1",
    fallback = true,
    www = WWW,
    pkg = PKG,
    log,
  } = options;
  const server = http.createServer(handler({ www: path.resolve(www), pkg: path.resolve(pkg) }, log));
  server.keepAliveTimeout = 1000;
  let bound;
  try {
    bound = await listen(server, port, host);
  } catch (e) {
    if (!(fallback && e.code === "EADDRINUSE" && port !== 0)) throw e;
    bound = await listen(server, 0, host);
  }
  return {
    url: `http://${host}:${bound}/`,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (!fs.existsSync(path.join(PKG, "index.js"))) {
    console.error(`warning: ${PKG} is missing; build it with: bash adapters/wasm/build.sh`);
  }
  const verbose = process.argv.includes("--verbose") || process.env.VERBOSE === "1";
  const { url, port } = await start({ log: verbose ? (line) => console.log(line) : undefined });
  const wanted = Number(process.env.PORT ?? 8080);
  if (port !== wanted) console.log(`port ${wanted} is taken; using ${port}`);
  console.log(`stepcache demo: ${url}`);
  console.log("(Ctrl-C to stop)");
}
