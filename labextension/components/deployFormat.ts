/**
 * How deployments read in the sidebar: latencies, function@version, the curl example, and
 * the try-request form's fields as text and back to JSON values. No runtime imports of
 * JupyterLab here, so the node unit tests load it as is.
 */
import type { JSONValue } from '../api';
import type { IDeploymentField, Moment } from '../deployApi';
import { isTextual, valueText } from '../parameterText';

/** Versions are shown by their first twelve characters, as the Versions section does. */
export const VERSION_LENGTH = 12;

/** `predict@0123456789ab` */
export function functionAtVersion(fn: string, version: string): string {
  return `${fn}@${version.slice(0, VERSION_LENGTH)}`;
}

/** 0.42 ms, 3.1 ms, 120 ms, 1.2 s; a dash when there were no requests to measure. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) {
    return '–';
  }
  if (ms < 1) {
    return `${ms.toFixed(2)} ms`;
  }
  if (ms < 10) {
    return `${ms.toFixed(1)} ms`;
  }
  if (ms < 1000) {
    return `${Math.round(ms)} ms`;
  }
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** Milliseconds since the epoch of a moment given as unix seconds or as ISO text. */
export function momentMillis(moment: Moment | null | undefined): number | null {
  if (moment === null || moment === undefined) {
    return null;
  }
  if (typeof moment === 'number') {
    return Number.isFinite(moment) ? moment * 1000 : null;
  }
  const parsed = Date.parse(moment);
  return Number.isNaN(parsed) ? null : parsed;
}

/** The endpoint's /invoke URL from the deployment's base URL. */
export function invokeURL(url: string): string {
  return `${url.replace(/\/+$/, '')}/invoke`;
}

/** `text` as one POSIX shell word: single quotes, a quote inside written '\''. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** The request a user can paste into a shell, the token left in $TOKEN. */
export function curlCommand(url: string, payload: JSONValue): string {
  return [
    'curl',
    '-H "Authorization: Bearer $TOKEN"',
    '-H "Content-Type: application/json"',
    `-d ${shellQuote(JSON.stringify(payload))}`,
    invokeURL(url)
  ].join(' ');
}

/** The text a field of the try-request form starts with: the example's value. */
export function fieldText(field: IDeploymentField, value: JSONValue | undefined): string {
  return valueText(field, value === undefined ? field.default : value);
}

export type FieldValue = { ok: true; value: JSONValue } | { ok: false; message: string };

const PYTHON_WORDS: { [word: string]: JSONValue } = { True: true, False: false, None: null };

/**
 * A field's text as the JSON value the endpoint expects: a str field's text as typed, the
 * others as JSON (Python's True, False and None are understood too).
 */
export function fieldValue(field: IDeploymentField, text: string): FieldValue {
  const trimmed = text.trim();
  if (isTextual(field)) {
    const optional = /\|\s*None$/.test(field.type);
    return { ok: true, value: optional && trimmed === 'None' ? null : text };
  }
  if (trimmed in PYTHON_WORDS) {
    return { ok: true, value: PYTHON_WORDS[trimmed] };
  }
  if (trimmed === '') {
    return { ok: false, message: `${field.name}: a ${field.type} is needed` };
  }
  try {
    return { ok: true, value: JSON.parse(trimmed) as JSONValue };
  } catch {
    return {
      ok: false,
      message: `${field.name}: not a ${field.type}; write it as JSON (e.g. 3, 0.5, "text", [1, 2])`
    };
  }
}

/** A JSON value on one line, cut to `max` characters. */
export function jsonPreview(value: JSONValue, max = 120): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const CLOCK = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit'
});

/** 14:03:27 for a moment of today; the date before it otherwise. */
export function clockTime(moment: Moment | null | undefined, now: Date = new Date()): string {
  const millis = momentMillis(moment);
  if (millis === null) {
    return '';
  }
  const date = new Date(millis);
  const clock = CLOCK.format(date);
  return date.toDateString() === now.toDateString()
    ? clock
    : `${date.toISOString().slice(0, 10)} ${clock}`;
}
