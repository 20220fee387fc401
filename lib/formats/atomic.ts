// Crash-safe file replacement: readers see either the old file or the complete new one, never a
// half-written mix, because the data is made durable in a sibling temp file before one rename.
import { closeSync, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

function writeAll(fd: number, chunk: Uint8Array): void {
  let done = 0;
  // writeSync may write less than asked (large buffers, some filesystems)
  while (done < chunk.byteLength) done += writeSync(fd, chunk, done, chunk.byteLength - done);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) and filesystems cannot open or fsync a directory; the rename is
    // already done, only its durability across a power cut is weaker there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `chunks` to `path` atomically: the bytes go to `path.tmp-<pid>-<random>` in the same
 * directory, which is fsynced and renamed over `path`, then the directory is fsynced.
 *
 * `chunks` may be a lazy iterable (a generator producing one tensor's bytes at a time), so a
 * large file never has to exist in memory at once. If anything throws — the iterable included —
 * the temp file is removed, the error is rethrown, and an existing file at `path` is untouched.
 * The new file keeps the permission bits of the file it replaces.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array> | Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  let mode: number | undefined;
  try {
    mode = statSync(path).mode & 0o7777;
  } catch {
    mode = undefined;
  }
  // 'wx': never clobber a file that happens to have the temp name
  let fd: number | undefined = openSync(tmp, 'wx', 0o666);
  try {
    if (mode !== undefined) fchmodSync(fd, mode);
    if (chunks instanceof Uint8Array) writeAll(fd, chunks);
    else for (const c of chunks) writeAll(fd, c);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // the original error matters more
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw e;
  }
  fsyncDir(dir);
}
