// Reading exact byte ranges of model files, shared by the format readers.
import { readSync } from 'node:fs';

/**
 * Fills `buf` from `position` of the open file. A file that ends first is reported through
 * `fail(offset, what)`, so each reader names its own format and field.
 */
export function readExact(fd: number, buf: Uint8Array, position: number, fail: (offset: number, what: string) => never): void {
  let done = 0;
  while (done < buf.byteLength) {
    const n = readSync(fd, buf, done, buf.byteLength - done, position + done);
    if (n === 0) fail(position + done, `file ends early (wanted ${buf.byteLength - done} more bytes)`);
    done += n;
  }
}
