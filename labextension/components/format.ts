/**
 * How runs and versions read in the sidebar: short ids, durations, times, value summaries,
 * and the message to show for a failed call.
 */
import { JSONValue, MLOpsAPIError } from '../api';

/** Run ids and version hashes are shown by their first characters, as the CLI does. */
export function shortId(id: string, length = 8): string {
  return id.slice(0, length);
}

/** 0.4 s, 12 s, 3 min 5 s, 2 h 4 min. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) {
    return '';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  if (seconds < 60) {
    return `${Math.round(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes} min ${Math.round(seconds % 60)} s`;
  }
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** Seconds from an ISO timestamp to now (the time so far of a running run). */
export function secondsSince(iso: string | null, now: number = Date.now()): number | null {
  if (iso === null) {
    return null;
  }
  const start = Date.parse(iso);
  return Number.isNaN(start) ? null : Math.max(0, (now - start) / 1000);
}

const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit'
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** The time alone for today, the day and time otherwise. */
export function formatTime(iso: string | null, now: Date = new Date()): string {
  if (iso === null) {
    return '';
  }
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) {
    return iso;
  }
  const today = moment.toDateString() === now.toDateString();
  return today ? TIME.format(moment) : DATE_TIME.format(moment);
}

/** Date and time in full, for tooltips. */
export function formatFullTime(iso: string | null): string {
  if (iso === null) {
    return '';
  }
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? iso : FULL.format(moment);
}

/** A parameter or metric value as a short text: numbers to `digits` significant digits. */
export function formatValue(value: JSONValue | undefined, digits = 4): string {
  if (value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(digits)));
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** `C=0.5, max_iter=100`, in name order. */
export function summarize(values: { [name: string]: JSONValue }): string {
  return Object.keys(values)
    .sort()
    .map(name => `${name}=${formatValue(values[name])}`)
    .join(', ');
}

/** The text to show for a failed call: the server's message when it sent one. */
export function errorMessage(error: unknown): string {
  if (error instanceof MLOpsAPIError) {
    return error.body.message;
  }
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
