#!/usr/bin/env node
// prebuildify spawns "node-gyp rebuild ..."; this stand-in builds with cmake-js instead and puts
// the addon where prebuildify looks for it (build/Release/*.node).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
if (args[0] !== 'rebuild' && args[0] !== 'build') process.exit(0);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const r = spawnSync(process.execPath, [cmakeJs, 'rebuild', '--CDCMAKE_BUILD_TYPE=Release'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
