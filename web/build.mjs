// Builds the dashboard's assets (docs/dashboard.md): the UI served at /ui/ (index.html, app.js,
// app.css) and the script of `ringfence sim --compare --html` pages (sim.js), into OUT_DIR.
//   node build.mjs OUT_DIR
// The CMake step in src/server/CMakeLists.txt runs this and embeds OUT_DIR into the server.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const common = {
  bundle: true, minify: true, format: 'iife', target: ['es2020'], legalComments: 'inline',
  logLevel: 'warning',
};
await esbuild.build({ ...common, entryPoints: [join(here, 'src/app.js')], outfile: join(out, 'app.js') });
await esbuild.build({ ...common, entryPoints: [join(here, 'src/sim.js')], outfile: join(out, 'sim.js') });
const css = readFileSync(join(here, 'node_modules/uplot/dist/uPlot.min.css'), 'utf8') + '\n' +
            readFileSync(join(here, 'src/app.css'), 'utf8');
writeFileSync(join(out, 'app.css'), css);
writeFileSync(join(out, 'index.html'), readFileSync(join(here, 'src/index.html'), 'utf8'));
