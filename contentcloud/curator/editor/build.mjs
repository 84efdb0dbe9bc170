// Bundle src/editor.js into one minified file (default ../static/editor.js) with esbuild, and
// write beside it the licences of every package that went into it (from esbuild's metafile).
// `node build.mjs OUTDIR` writes into OUTDIR instead (the test that the committed bundle is
// the one this lockfile builds compares the two).
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2] || join(here, "..", "static");
const result = await esbuild.build({
  entryPoints: [join(here, "src", "editor.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "none",
  outfile: join(outdir, "editor.js"),
  metafile: true,
  logLevel: "warning",
});
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const found = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (found) packages.add(found[1]);
}
const parts = ["Packages bundled into editor.js (built by contentcloud/curator/editor/build.mjs):\n"];
for (const name of [...packages].sort()) {
  const dir = join(here, "node_modules", name);
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f));
  parts.push(`\n== ${name} ${meta.version} (${meta.license}) ==\n`);
  parts.push(file && existsSync(join(dir, file)) ? readFileSync(join(dir, file), "utf8") : "(no licence file)\n");
}
writeFileSync(join(outdir, "editor.js.LICENSES.txt"), parts.join(""));
