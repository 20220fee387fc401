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

/**
 * Parses JSON Lines text: one JSON value per line; blank lines are ignored; a UTF-8 byte order
 * mark and \r\n endings are accepted. An invalid line throws a DataError naming `file` and the
 * line, or with `onBad` is handed to it and left out.
 */
export function parseJsonl(text: string, file: string, onBad?: (bad: BadLine) => void): JsonlRecord[] {
  const out: JsonlRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let s = lines[i]!;
    if (i === 0 && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    if (s.endsWith('\r')) s = s.slice(0, -1);
    if (s.trim() === '') continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) });
    } catch (e) {
      let reason = `invalid JSON (${(e as Error).message}): ${preview(s)}`;
      if (out.length === 0 && /^\s*\[\s*(\{.*)?$/.test(s)) reason += ' (a JSON array? datasets are JSON Lines: one object per line)';
      const bad = { line: i + 1, reason };
      if (!onBad) throw new DataError(file, bad.line, bad.reason);
      onBad(bad);
    }
  }
  return out;
}
