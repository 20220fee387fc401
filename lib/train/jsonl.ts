// JSON Lines with 1-based line numbers, and the error every dataset problem is reported with.
import { FormatError } from '../errors.js';

/** A line of a dataset file that could not be used, and why. */
export interface BadLine {
  /** 1-based line number in the file. */
  line: number;
  reason: string;
}

/**
 * A dataset line (or a whole file, line 0) that cannot be used: `file:line: reason`. A
 * FormatError, with the file, line and reason also as fields.
 */
export class DataError extends FormatError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}

/** One parsed JSON value and the line it was on. */
export interface JsonlRecord {
  line: number;
  value: unknown;
}

const preview = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}...` : s);

/** What parseJsonlLine makes of one line: a value, nothing (a blank line), or why it is invalid. */
export type JsonlLine = { value: unknown } | { reason: string } | undefined;

/**
 * One line of JSON Lines text (without its \n): blank is undefined; \r at the end and, on the
 * first line, a byte order mark are dropped. `noneYet`: no valid record came before, so a `[`
 * line is probably a JSON array file, which the reason then says.
 */
export function parseJsonlLine(s: string, first: boolean, noneYet: boolean): JsonlLine {
  if (first && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  if (s.endsWith('\r')) s = s.slice(0, -1);
  if (s.trim() === '') return undefined;
  try {
    return { value: JSON.parse(s) };
  } catch (e) {
    let reason = `invalid JSON (${(e as Error).message}): ${preview(s)}`;
    if (noneYet && /^\s*\[\s*(\{.*)?$/.test(s)) reason += ' (a JSON array? datasets are JSON Lines: one object per line)';
    return { reason };
  }
}

/**
 * Parses JSON Lines text: one JSON value per line; blank lines are ignored; a UTF-8 byte order
 * mark and \r\n endings are accepted. An invalid line throws a DataError naming `file` and the
 * line, or with `onBad` is handed to it and left out.
 */
export function parseJsonl(text: string, file: string, onBad?: (bad: BadLine) => void): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  let from = 0;
  for (let i = 0; from <= text.length; i++) {
    let to = text.indexOf('\n', from);
    if (to < 0) to = text.length;
    const r = parseJsonlLine(text.slice(from, to), i === 0, out.length === 0);
    from = to + 1;
    if (r === undefined) continue;
    if ('value' in r) {
      out.push({ line: i + 1, value: r.value });
      continue;
    }
    if (!onBad) throw new DataError(file, i + 1, r.reason);
    onBad({ line: i + 1, reason: r.reason });
  }
  return out;
}

/**
 * UTF-8 validation as WHATWG's decoder does it with `fatal: true` (no overlong forms, no
 * surrogates, nothing past U+10FFFF), fed in chunks: push() returns the byte offset (from the
 * first byte pushed) of the sequence that is invalid, or -1; end() the offset of a sequence cut
 * short by the end, or -1.
 */
export class Utf8Validator {
  private offset = 0;
  private needed = 0;
  private seen = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private start = 0; // offset of the sequence being read

  push(bytes: Uint8Array): number {
    const base = this.offset;
    this.offset += bytes.length;
    let { needed, seen, lower, upper } = this;
    const n = bytes.length;
    for (let i = 0; i < n; i++) {
      const b = bytes[i]!;
      if (needed === 0) {
        if (b < 0x80) continue;
        this.start = base + i;
        if (b >= 0xc2 && b <= 0xdf) needed = 1;
        else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) lower = 0xa0;
          if (b === 0xed) upper = 0x9f;
          needed = 2;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) lower = 0x90;
          if (b === 0xf4) upper = 0x8f;
          needed = 3;
        } else return this.start;
        seen = 0;
        continue;
      }
      if (b < lower || b > upper) return this.start;
      lower = 0x80;
      upper = 0xbf;
      if (++seen === needed) needed = 0;
    }
    Object.assign(this, { needed, seen, lower, upper });
    return -1;
  }

  end(): number {
    return this.needed > 0 ? this.start : -1;
  }
}

/** The offset of the first invalid UTF-8 sequence in `bytes`, or -1 when they are valid UTF-8. */
export function invalidUtf8At(bytes: Uint8Array): number {
  const v = new Utf8Validator();
  const at = v.push(bytes);
  return at >= 0 ? at : v.end();
}
