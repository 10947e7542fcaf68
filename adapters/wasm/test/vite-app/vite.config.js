// Resolves `stepcache` to the built package directory (../../pkg, through its package.json),
// as a `file:` dependency would. Build: `npx vite build vite-app` from adapters/wasm/test.
import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

export default defineConfig({
  resolve: { alias: { stepcache: fileURLToPath(new URL("../../pkg", import.meta.url)) } },
});
