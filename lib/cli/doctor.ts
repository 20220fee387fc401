import * as et from '../index.js';
import { native } from '../native/addon.js';

export function runDoctor(): void {
  console.log(`edgetrain on node ${process.version}, ${process.platform}/${process.arch}`);
  console.log(`cpu kernels: ${native.cpuIsa()}, threads: ${et.getThreads()}`);
  for (const d of et.devices()) {
    const mark = d.available ? 'yes' : 'no ';
    console.log(`  ${d.name.padEnd(7)} ${mark}  ${d.available ? d.description : d.reason}`);
  }
}
