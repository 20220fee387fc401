// Long text cut into pieces that tokenize on their own to the ids of the whole text, so a corpus
// is tokenized a piece at a time instead of in one call on one string.

/** Text tokenized per encode() call (UTF-16 units); see pieceEnd. */
export const PIECE = 1 << 20;

const isSpaceCode = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const LETTER = /\p{L}/u;
function isLetterAt(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c < 0x80) return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  return !(c >= 0xd800 && c <= 0xdfff) && LETTER.test(s[i]!);
}

/**
 * Where a piece of `s` that is tokenized on its own ends: at most `max` (< s.length - 1) units in.
 * Pieces end before a space between two letters ("whale| ship"): a space after a letter starts a
 * new pre-token for the GPT-2, Llama 3 and Qwen2 regexes and a new word for SentencePiece
 * vocabularies whose entries never hold U+2581 after another character, and the next piece,
 * encoded with prefixSpace false, starts with that space as the whole text does, so the pieces
 * give the ids of the whole text. A line break is not such a boundary for every vocabulary
 * (Llama 3's regex joins punctuation with the newlines after it; GPT-2's reads a run of newlines
 * at the end of a text as one pre-token; SentencePiece words run on across newlines), so it is
 * only the fallback for text without such a space (after a \n, before a character that is not
 * white space), then any place that does not cut a surrogate pair. Checked on the shipped
 * models/moby-4m.gguf (SentencePiece) over Moby-Dick repeated to 5 MB, in test/train-data.test.ts:
 * the streamed ids equal those of encoding the whole text. What still can differ: a tokenizer
 * whose normalizer prepends U+2581 to every text (old Llama 2 tokenizer.json files), or a
 * user-defined token spelled with a space between letters that a split falls inside.
 */
export function pieceEnd(s: string, max: number): number {
  for (let i = max; i >= 1; i--) if (s.charCodeAt(i) === 0x20 && isLetterAt(s, i - 1) && isLetterAt(s, i + 1)) return i;
  for (let i = max; i >= 1; i--) if (s.charCodeAt(i - 1) === 0x0a && !isSpaceCode(s.charCodeAt(i))) return i;
  const c = s.charCodeAt(max);
  return c >= 0xdc00 && c <= 0xdfff ? max - 1 : max;
}

/** `text` in pieces of at most about PIECE units, cut by pieceEnd. */
export function* pieces(text: string): Generator<string> {
  let from = 0;
  while (text.length - from > PIECE + 1) {
    // pieceEnd on a window: no copy of the rest of a long text per piece
    const w = text.slice(from, from + PIECE + 2);
    const end = pieceEnd(w, PIECE);
    yield w.slice(0, end);
    from += end;
  }
  if (from < text.length) yield from === 0 ? text : text.slice(from);
}
