// Shortens the names the .wasm imports and exports, and renames them in the glue to match.
//
//   node tools/minify.mjs <wasm-opt> <pkg dir> <wasm-opt feature flags...>
//
// wasm-bindgen names each import after its JavaScript function plus a 16-digit hash
// (`__wbg_objectStoreNames_2b913d9b7111553d`) and each closure export after its full Rust
// type (200 characters each): 6 KB of the module's names, 2 KB gzipped, as random to gzip
// as the hashes in them. binaryen's --minify-imports-and-exports-and-modules renames them
// all to one- or two-letter names and prints the old and new names; this script applies
// that table to the glue wasm-bindgen wrote (`stepcache_wasm.js` and its two .d.ts files).
//
// The glue names an import once, as a key of the object it hands to the module, and an
// export as `wasm.<name>`. Every renaming must be found exactly where expected, and no old
// name may be left anywhere: a wasm-bindgen whose glue looks different fails the build here
// instead of shipping a module that cannot be instantiated.
//
// A function of a crate's own JavaScript module (`#[wasm_bindgen(module = ...)]`, emitted
// into `snippets/`) whose arguments need no conversion is imported by the module straight
// from that JavaScript module, not through the glue's object: the glue imports the module
// as a namespace (`import * as import1 from "./snippets/..."`) and hands it over under the
// module's path. binaryen puts every import in one module, so such a function becomes an
// entry of the glue's object under its new name (`w: import1.describe`), and the namespaces'
// own keys go.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const [wasmOpt, pkg, ...features] = process.argv.slice(2);
const wasmPath = join(pkg, "stepcache_wasm_bg.wasm");
const gluePath = join(pkg, "stepcache_wasm.js");
const typePaths = [join(pkg, "stepcache_wasm.d.ts"), join(pkg, "stepcache_wasm_bg.wasm.d.ts")];

function fail(message) {
  console.error(`minify: ${message}`);
  process.exit(1);
}

const table = JSON.parse(
  execFileSync(wasmOpt, [...features, "--minify-imports-and-exports-and-modules", wasmPath, "-o", wasmPath], {
    encoding: "utf8",
    maxBuffer: 1 << 24,
  }),
);
const modules = new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmPath))).map((i) => i.module));
if (modules.size !== 1) fail(`expected one import module after minifying, found ${[...modules].join(", ")}`);
const [moduleName] = modules;

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Replaces `pattern` (a RegExp source) in `text`, which must match exactly once. */
function renameOnce(text, pattern, replacement, what) {
  let found = 0;
  const out = text.replace(new RegExp(pattern, "g"), (...match) => {
    found += 1;
    return replacement(...match);
  });
  if (found !== 1) fail(`${what}: expected once in the glue, found ${found} times`);
  return out;
}

let glue = readFileSync(gluePath, "utf8");
/** The namespace a JavaScript module of the crate's own is imported as, or undefined. */
const namespaceOf = (module) => glue.match(new RegExp(`\\nimport \\* as (\\w+) from "${escape(module)}"`))?.[1];
const oldModules = new Set(table.imports.map(([module]) => module));
const glueModules = [...oldModules].filter((module) => namespaceOf(module) === undefined);
if (glueModules.length !== 1) fail(`expected one import object in the glue, found ${glueModules.length}`);
let importObject;
for (const module of oldModules) {
  if (module === glueModules[0]) {
    glue = renameOnce(glue, `\\n(\\s*)"${escape(module)}": (\\w+),`, (_, indent, object) => {
      importObject = object;
      return `\n${indent}"${moduleName}": ${object},`;
    }, `module ${module}`);
  } else {
    // wasm-bindgen may hand the same namespace over several times, under one key.
    const before = glue;
    glue = glue.replace(new RegExp(`\\n\\s*"${escape(module)}": \\w+,`, "g"), "");
    if (glue === before) fail(`module ${module}: not handed to the module in the glue`);
  }
}
for (const [module, name, short] of table.imports) {
  if (module === glueModules[0]) {
    glue = renameOnce(glue, `\\n(\\s*)${escape(name)}: function\\(`, (_, indent) => `\n${indent}${short}: function(`, `import ${name}`);
  } else {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) fail(`import ${name} of ${module} is not a JavaScript name`);
    const entry = `${short}: ${namespaceOf(module)}.${name},`;
    glue = renameOnce(glue, `\\n(\\s*)const ${importObject} = \\{\\n(\\s*)__proto__: null,`, (match, _, indent) => `${match}\n${indent}${entry}`, `import ${name} of ${module}`);
  }
}
for (const [name, short] of table.exports) {
  if (!/^[A-Za-z_$][\w$]*$/.test(short)) fail(`export ${name} became "${short}", not a JavaScript name`);
  glue = glue.replace(new RegExp(`\\bwasm\\.${escape(name)}\\b`, "g"), `wasm.${short}`);
}
// Every export the glue reads must now be one of the new names.
const shorts = new Set(table.exports.map(([, short]) => short));
for (const [, name] of glue.matchAll(/\bwasm\.([A-Za-z_$][\w$]*)/g)) {
  if (!shorts.has(name)) fail(`the glue reads wasm.${name}, which the module no longer exports`);
}
writeFileSync(gluePath, glue);

// The .d.ts files declare the raw exports (`readonly memory: ...`, `export const memory: ...`).
for (const path of typePaths) {
  let types = readFileSync(path, "utf8");
  for (const [name, short] of table.exports) {
    types = types.replace(new RegExp(`(readonly |export const )${escape(name)}:`, "g"), `$1${short}:`);
  }
  writeFileSync(path, types);
}
