/**
 * The geometry of the latency chart: the deployment's monitor windows placed on a time axis
 * (x) and a latency axis from zero to the highest p99 (y), as SVG polyline points.
 */
import type { IDeploymentWindow } from '../deployApi';
import { momentMillis } from './deployFormat';

export interface ISeriesPoint {
  /** Milliseconds since the epoch: the window's end. */
  t: number;
  value: number;
}

export interface ILatencySeries {
  p50: ISeriesPoint[];
  p99: ISeriesPoint[];
  requests: ISeriesPoint[];
  errors: number;
  tMin: number;
  tMax: number;
  /** The top of the latency axis (ms): the highest p99, or p50 when there is no p99. */
  top: number;
}

/** The windows in time order as series; null when no window has a time. */
export function latencySeries(windows: readonly IDeploymentWindow[]): ILatencySeries | null {
  const timed = windows
    .map(window => ({ window, t: momentMillis(window.end) ?? momentMillis(window.start) }))
    .filter((entry): entry is { window: IDeploymentWindow; t: number } => entry.t !== null)
    .sort((a, b) => a.t - b.t);
  if (timed.length === 0) {
    return null;
  }
  const pick = (key: 'p50_ms' | 'p99_ms'): ISeriesPoint[] =>
    timed.flatMap(({ window, t }) => {
      const value = window[key];
      return value === null || !Number.isFinite(value) ? [] : [{ t, value }];
    });
  const p50 = pick('p50_ms');
  const p99 = pick('p99_ms');
  const top = Math.max(0, ...p99.map(point => point.value), ...p50.map(point => point.value));
  return {
    p50,
    p99,
    requests: timed.map(({ window, t }) => ({ t, value: window.requests })),
    errors: timed.reduce((sum, { window }) => sum + window.errors, 0),
    tMin: timed[0].t,
    tMax: timed[timed.length - 1].t,
    top
  };
}

export interface IBox {
  width: number;
  height: number;
  /** Space kept free at the top and bottom, so a line at 0 or at the top stays visible. */
  pad: number;
}

/** The x of a time in the box; a single moment sits in the middle. */
export function xOf(t: number, series: ILatencySeries, box: IBox): number {
  const span = series.tMax - series.tMin;
  const x = span <= 0 ? box.width / 2 : ((t - series.tMin) / span) * box.width;
  return round(x);
}

/** The y of a latency in the box (0 ms at the bottom). */
export function yOf(value: number, top: number, box: IBox): number {
  const inner = box.height - 2 * box.pad;
  const y = top <= 0 ? box.height - box.pad : box.height - box.pad - (value / top) * inner;
  return round(y);
}

/** `x,y x,y …` for an SVG polyline. */
export function polylinePoints(
  points: readonly ISeriesPoint[],
  series: ILatencySeries,
  box: IBox
): string {
  return points
    .map(point => `${xOf(point.t, series, box)},${yOf(point.value, series.top, box)}`)
    .join(' ');
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
