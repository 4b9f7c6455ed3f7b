/**
 * The order the server lists runs in: newest created first, ties broken by id (descending),
 * the same key its keyset cursor uses, so a page fetched now can be lined up with rows
 * loaded earlier.
 */
import { IRun } from '../api';

export interface IRunKey {
  /** Milliseconds since the epoch, the fraction of the second left out. */
  seconds: number;
  /** Microseconds within the second (ISO times may carry six digits; Date keeps three). */
  micros: number;
  id: string;
}

const FRACTION = /\.(\d+)/;

export function runKey(run: IRun): IRunKey {
  const fraction = FRACTION.exec(run.created_at);
  const whole = fraction === null ? run.created_at : run.created_at.replace(FRACTION, '');
  const micros = fraction === null ? 0 : Number(fraction[1].slice(0, 6).padEnd(6, '0'));
  return { seconds: Date.parse(whole), micros, id: run.id };
}

/** Negative when `a` is listed before (is newer than) `b`, as the server lists them. */
export function compareKeys(a: IRunKey, b: IRunKey): number {
  if (a.seconds !== b.seconds) {
    return b.seconds - a.seconds;
  }
  if (a.micros !== b.micros) {
    return b.micros - a.micros;
  }
  return a.id === b.id ? 0 : a.id < b.id ? 1 : -1;
}
