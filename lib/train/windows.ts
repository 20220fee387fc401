// Token ids of text documents in large typed-array slabs, handed out as seqLen + 1 windows.

/**
 * Token ids of text documents in slabs (Int32Array, growing to 4 Mi ids), cut into windows of
 * seqLen + 1 that start seqLen apart as chunkSample cuts them. Windows are views of the slabs:
 * consecutive windows share the token where one ends and the next starts, and a document's
 * last, unfinished window moves to a new slab when its slab is full.
 */
export class TokenWindows {
  private buf: Int32Array;
  private pos = 0;
  private ws = 0; // start of the window being filled
  private n = 0; // tokens of the document so far
  /** [0, 1, 1, ...]: every text window's mask (or a prefix of it); samples do not write masks. */
  private readonly mask: Uint8Array;

  constructor(
    private readonly seqLen: number,
    private readonly out: (ids: Int32Array, mask: Uint8Array) => void,
  ) {
    this.buf = new Int32Array(Math.max(1 << 16, 4 * (seqLen + 1)));
    this.mask = new Uint8Array(seqLen + 1).fill(1);
    this.mask[0] = 0;
  }

  begin(): void {
    this.ws = this.pos;
    this.n = 0;
  }

  push(ids: ArrayLike<number>): void {
    const L = this.seqLen + 1;
    for (let i = 0; i < ids.length; i++) {
      if (this.pos === this.buf.length) this.grow();
      this.buf[this.pos++] = ids[i]!;
      this.n++;
      if (this.pos - this.ws === L) {
        this.out(this.buf.subarray(this.ws, this.pos), this.mask);
        this.ws = this.pos - 1;
      }
    }
  }

  /** Ends the document: its last window, if it holds a target; the document's token count. */
  end(): number {
    // (a full window went out as it filled; what is left is shorter, or only its shared first token)
    const k = this.pos - this.ws;
    if (k >= 2) this.out(this.buf.subarray(this.ws, this.pos), this.mask.subarray(0, k));
    return this.n;
  }

  private grow(): void {
    const size = Math.min(Math.max(2 * this.buf.length, 4 * (this.seqLen + 1)), Math.max(1 << 22, 4 * (this.seqLen + 1)));
    const next = new Int32Array(size);
    next.set(this.buf.subarray(this.ws, this.pos));
    this.pos -= this.ws;
    this.ws = 0;
    this.buf = next;
  }
}
