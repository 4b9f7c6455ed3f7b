/**
 * Latency over time: the p50 and p99 of each monitor window as two lines, the requests per
 * window as faint bars under them, a dot per window with its numbers in the tooltip.
 */
import React from 'react';

import { IDeploymentWindow } from '../deployApi';
import { clockTime, formatMs, momentMillis } from './deployFormat';
import { IBox, latencySeries, polylinePoints, xOf, yOf } from './sparkline';

const BOX: IBox = { width: 240, height: 64, pad: 4 };
/** The bars use the lower part of the chart, under most of the lines. */
const BAR_SHARE = 0.35;

function windowTitle(window: IDeploymentWindow): string {
  const clock = clockTime(window.end);
  const when = clock ? `${clock}: ` : '';
  const errors = window.errors > 0 ? `, ${window.errors} errors` : '';
  return (
    `${when}${window.requests} requests${errors}, ` +
    `p50 ${formatMs(window.p50_ms)}, p99 ${formatMs(window.p99_ms)}, max ${formatMs(window.max_ms)}`
  );
}

export function LatencyChart(props: { windows: readonly IDeploymentWindow[] }): React.ReactElement {
  const series = latencySeries(props.windows);
  if (series === null) {
    return (
      <p className="jp-mlops-muted" data-testid="mlops-deployment-latency" data-windows={0}>
        No requests measured yet: the chart fills in as requests come.
      </p>
    );
  }
  const maxRequests = Math.max(1, ...series.requests.map(point => point.value));
  const barWidth = Math.max(1.5, Math.min(6, BOX.width / Math.max(1, series.requests.length) / 2));
  const last = [...props.windows].sort(
    (a, b) => (momentMillis(a.end) ?? 0) - (momentMillis(b.end) ?? 0)
  )[props.windows.length - 1];
  return (
    <figure
      className="jp-mlops-latency"
      data-testid="mlops-deployment-latency"
      data-windows={props.windows.length}
    >
      <svg
        className="jp-mlops-latency-chart"
        viewBox={`0 0 ${BOX.width} ${BOX.height}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`Latency of the last ${props.windows.length} windows, up to ${formatMs(series.top)}`}
      >
        {series.requests.map((point, index) => {
          const height = (point.value / maxRequests) * BOX.height * BAR_SHARE;
          return (
            <rect
              key={`r${index}`}
              className="jp-mlops-latency-bar"
              x={xOf(point.t, series, BOX) - barWidth / 2}
              y={BOX.height - height}
              width={barWidth}
              height={height}
            />
          );
        })}
        <polyline
          className="jp-mlops-latency-p99"
          data-series="p99"
          data-points={series.p99.length}
          points={polylinePoints(series.p99, series, BOX)}
          vectorEffect="non-scaling-stroke"
        />
        <polyline
          className="jp-mlops-latency-p50"
          data-series="p50"
          data-points={series.p50.length}
          points={polylinePoints(series.p50, series, BOX)}
          vectorEffect="non-scaling-stroke"
        />
        {props.windows.map((window, index) => {
          const t = momentMillis(window.end) ?? momentMillis(window.start);
          const value = window.p99_ms ?? window.p50_ms;
          if (t === null || value === null) {
            return null;
          }
          return (
            <circle
              key={`c${index}`}
              className="jp-mlops-latency-dot"
              cx={xOf(t, series, BOX)}
              cy={yOf(value, series.top, BOX)}
              r={2}
            >
              <title>{windowTitle(window)}</title>
            </circle>
          );
        })}
      </svg>
      <figcaption className="jp-mlops-latency-legend">
        <span className="jp-mlops-legend-p50">p50</span>
        <span className="jp-mlops-legend-p99">p99</span>
        <span>
          last window: p50 {formatMs(last.p50_ms)} · p99 {formatMs(last.p99_ms)}
        </span>
        <span className="jp-mlops-spacer" />
        <span title="The top of the chart">↑ {formatMs(series.top)}</span>
      </figcaption>
    </figure>
  );
}
