// Builds the JsSIP bundle the console's web phone embeds:
//
//   npm ci && npm run vendor
//
// writes ../../admin/console/jssip.min.js (JsSIP and what it requires,
// minified, as the global JsSIP) and jssip.LICENSE.txt beside it, the
// licences of everything in the bundle. The versions are package.json's,
// fixed, so a rebuild gives the same file.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = join('..', '..', 'admin', 'console');
const bundled = ['jssip', 'debug', 'events', 'ms', 'sdp-transform'];

await build({
  stdin: { contents: "import JsSIP from 'jssip'; window.JsSIP = JsSIP;", resolveDir: '.' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  outfile: join(out, 'jssip.min.js'),
});

const licence = name => {
  for (const f of ['LICENSE', 'LICENSE.md', 'license.md', 'LICENSE.txt']) {
    try { return readFileSync(join('node_modules', name, f), 'utf8'); } catch { /* next */ }
  }
  throw new Error(`no licence file in ${name}`);
};
const version = name => JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')).version;
writeFileSync(join(out, 'jssip.LICENSE.txt'),
  'jssip.min.js bundles these npm packages, each under the licence below.\n\n' +
  bundled.map(n => `==== ${n} ${version(n)} ====\n\n${licence(n).trim()}\n`).join('\n'));
