// Model files used in place: the core maps the file (copy-on-write) and tensors view its bytes,
// so loading a model copies nothing into JS memory and pages come from the OS page cache.
import { type DType, DTYPE_SIZE } from '../dtype.js';
import { FormatError, fromNative } from '../errors.js';
import { native } from '../native/addon.js';
import { checkShape, fmt, prod } from '../ops/util.js';
import { Storage, Tensor, contiguousStrides } from '../tensor.js';

/** A file mapped into CPU memory; tensors made from it keep the mapping alive. */
export class MappedFile {
  private readonly storage: Storage;
  private closed = false;

  constructor(
    readonly path: string,
    storage: Storage,
  ) {
    this.storage = storage;
    storage.retain(); // the MappedFile's own hold, dropped by close()
  }

  get bytes(): number {
    return this.storage.bytes;
  }

  /**
   * A CPU tensor viewing `shape` elements of `dtype` at `byteOffset` (no copy). Writing to it
   * changes only this process's copy of the pages, never the file.
   */
  tensor(byteOffset: number, shape: readonly number[], dtype: DType): Tensor {
    if (this.closed) throw new FormatError(`${this.path}: mapping was closed`);
    const s = checkShape('MappedFile.tensor', shape);
    const size = DTYPE_SIZE[dtype];
    const bytes = prod(s) * size;
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + bytes > this.storage.bytes)
      throw new FormatError(`${this.path}: ${dtype} tensor ${fmt(s)} at byte ${byteOffset} (+${bytes}) runs past the end of the file (${this.storage.bytes} bytes)`);
    if (byteOffset % size !== 0)
      throw new FormatError(`${this.path}: ${dtype} tensor at byte ${byteOffset} is not aligned to its ${size}-byte elements`);
    return new Tensor(this.storage, s, contiguousStrides(s), byteOffset / size, dtype);
  }

  /** Drops the file's own hold on the mapping; it is unmapped once no tensor views it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.storage.release();
  }
}

/** Maps a file for tensors that use its bytes in place (FormatError when it cannot be opened). */
export function mapFile(path: string): MappedFile {
  let m: { handle: ReturnType<typeof native.mapFile>['handle']; bytes: number };
  try {
    m = native.mapFile(path);
  } catch (e) {
    throw fromNative(e, 'mapFile');
  }
  const storage = new Storage(m.handle, m.bytes, 'cpu');
  const f = new MappedFile(path, storage);
  return f;
}
