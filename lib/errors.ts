/** Base class of every error edgetrain throws on purpose. */
export class EdgeTrainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit the op (the message names the op and the shapes). */
export class ShapeError extends EdgeTrainError {}
/** A dtype the op does not accept. */
export class DTypeError extends EdgeTrainError {}
/** A tensor used after dispose(). */
export class DisposedError extends EdgeTrainError {}
/** A device that does not exist here, tensors on different devices, or an op a device lacks. */
export class DeviceError extends EdgeTrainError {}
/** A malformed or truncated file (names the field and the byte offset). */
export class FormatError extends EdgeTrainError {}
/** An index outside its range (embedding ids, class targets, dims). */
export class IndexError extends EdgeTrainError {}
/** A scalar argument that is not acceptable (non-finite, out of range). */
export class ValueError extends EdgeTrainError {}
/** A device allocation that failed. */
export class OutOfMemoryError extends EdgeTrainError {}
/** Training that cannot go on: every update skipped as non-finite, or an adapter that is not finite. */
export class TrainingError extends EdgeTrainError {}

const byPrefix: Record<string, new (m: string) => EdgeTrainError> = {
  ShapeError,
  DTypeError,
  DisposedError,
  DeviceError,
  FormatError,
  IndexError,
  ValueError,
  OutOfMemory: OutOfMemoryError,
};

/**
 * Turns an Error thrown by the native addon into the typed error its message prefix names
 * ("IndexError: embedding: ..."); other native errors become EdgeTrainError.
 */
export function fromNative(e: unknown, context?: string): EdgeTrainError {
  if (e instanceof EdgeTrainError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^(\w+): (.*)$/s.exec(msg);
  const cls = m ? byPrefix[m[1]!] : undefined;
  const text = cls ? m![2]! : msg;
  const full = context && !text.startsWith(context) ? `${context}: ${text}` : text;
  return new (cls ?? EdgeTrainError)(full);
}
