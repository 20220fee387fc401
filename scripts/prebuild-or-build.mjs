// npm install hook: use a prebuilt addon from prebuilds/ when one matches this platform, ABI and
// libc; otherwise build from source with cmake-js (needs a C++17 compiler and cmake).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function prebuildMatches() {
  try {
    const path = require('node-gyp-build').path(root);
    return path.includes(`${join('prebuilds', '')}`) ? path : null;
  } catch {
    return null;
  }
}

if (process.env.EDGETRAIN_FORCE_BUILD !== '1') {
  const found = prebuildMatches();
  if (found) {
    console.log(`edgetrain: using prebuilt addon ${found}`);
    process.exit(0);
  }
}
console.log('edgetrain: no matching prebuild, building the native addon from source (cmake-js)');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release'], {
  cwd: root,
  stdio: 'inherit',
});
if (r.status !== 0) {
  console.error(
    'edgetrain: building the native addon failed. It needs cmake >= 3.18 and a C++17 compiler ' +
      '(Debian/Ubuntu: apt install cmake g++ make; Termux: pkg install cmake clang make).',
  );
  process.exit(r.status ?? 1);
}
