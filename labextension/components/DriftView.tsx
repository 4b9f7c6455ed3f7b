/**
 * Drift of a deployment's request fields and of its predictions (listed first): per field, the
 * statistic over the judged windows against its threshold, and the reference (training data)
 * and latest window's histograms side by side. Refreshed every few seconds while shown.
 */
import React, { useEffect, useState } from 'react';

import { deployApi, IDriftField, IDriftHistogram, IDriftPoint, IDriftReport } from '../deployApi';

const REFRESH_MS = 5000;
const CHART = { width: 240, height: 48 };

export function DriftView(props: { name: string }): React.ReactElement {
  const { name } = props;
  const [report, setReport] = useState<IDriftReport | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = (): void => {
      deployApi
        .drift(name)
        .then(found => {
          if (live) {
            setReport(found);
            setProblem(null);
          }
        })
        .catch((error: Error) => live && setProblem(error.message));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [name]);
  if (problem !== null) {
    return <div className="jp-mlops-error">{problem}</div>;
  }
  if (report === null) {
    return <p className="jp-mlops-muted">Reading drift…</p>;
  }
  if (report.message) {
    return (
      <p className="jp-mlops-muted" data-testid="mlops-drift-none">
        {report.message}
      </p>
    );
  }
  const drifted = report.fields.filter(field => field.drifted).length;
  return (
    <div
      className="jp-mlops-drift"
      data-testid="mlops-drift"
      data-windows={report.windows.length}
      data-drifted={drifted}
    >
      <p className="jp-mlops-muted">
        {report.windows.length} window{report.windows.length === 1 ? '' : 's'} of{' '}
        {report.window_requests} requests judged ({report.mode}), {report.pending_requests} toward
        the next; reference: {report.reference_source}
      </p>
      {[...report.fields]
        .sort((a, b) => Number(b.role === 'prediction') - Number(a.role === 'prediction'))
        .map(field => (
          <DriftFieldView key={field.field} field={field} />
        ))}
    </div>
  );
}

function DriftFieldView(props: { field: IDriftField }): React.ReactElement {
  const { field } = props;
  const value = field.value === null ? '–' : field.value.toFixed(3);
  const threshold = field.threshold === null ? '–' : field.threshold.toFixed(3);
  return (
    <div
      className="jp-mlops-drift-field"
      data-testid="mlops-drift-field"
      data-field={field.field}
      data-role={field.role}
      data-drifted={field.drifted ? 'true' : 'false'}
    >
      <div className="jp-mlops-drift-head">
        <span className="jp-mlops-mono">{field.field}</span>
        {field.role === 'prediction' ? (
          <span className="jp-mlops-chip" title="what the deployment answered">
            prediction
          </span>
        ) : null}
        <span className={`jp-mlops-chip${field.drifted ? ' jp-mod-problem' : ''}`}>
          {field.drifted ? 'drifted' : 'stable'}
        </span>
        <span className="jp-mlops-muted" title="the last window's statistic and its threshold">
          {field.statistic ?? 'no window yet'} {value} / {threshold}
        </span>
        <span className="jp-mlops-muted">
          {field.drifted_windows}/{field.history.length} windows drifted
        </span>
      </div>
      <StatisticOverTime points={field.history} />
      <HistogramPair reference={field.reference} current={field.current} />
    </div>
  );
}

/**
 * The statistic of each judged window (dots, red when drifted) against its threshold (a
 * dashed line per window), oldest on the left: drift over time.
 */
function StatisticOverTime(props: { points: IDriftPoint[] }): React.ReactElement | null {
  const points = props.points.filter(point => point.value !== null);
  if (points.length === 0) {
    return null;
  }
  const top = Math.max(
    0.0001,
    ...points.map(point => Math.max(point.value ?? 0, point.threshold ?? 0))
  );
  const slot = CHART.width / points.length;
  const y = (value: number): number => CHART.height - 2 - (value / top) * (CHART.height - 4);
  return (
    <svg
      className="jp-mlops-drift-chart"
      data-testid="mlops-drift-over-time"
      data-windows={points.length}
      viewBox={`0 0 ${CHART.width} ${CHART.height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label="the statistic of each window against its threshold"
    >
      {points.map((point, i) => (
        <g key={i}>
          <title>
            {`${point.end}: ${point.statistic} ${(point.value ?? 0).toFixed(3)}` +
              ` / ${(point.threshold ?? 0).toFixed(3)}${point.drifted ? ' (drifted)' : ''}`}
          </title>
          {point.threshold !== null ? (
            <line
              className="jp-mlops-drift-threshold"
              x1={i * slot}
              x2={(i + 1) * slot}
              y1={y(point.threshold)}
              y2={y(point.threshold)}
            />
          ) : null}
          <circle
            className={
              point.drifted ? 'jp-mlops-drift-point jp-mod-problem' : 'jp-mlops-drift-point'
            }
            cx={i * slot + slot / 2}
            cy={y(point.value ?? 0)}
            r={2}
          />
        </g>
      ))}
    </svg>
  );
}

/** Reference and current shares per bin as pairs of bars (grey: reference). */
function HistogramPair(props: {
  reference: IDriftHistogram;
  current: IDriftHistogram | null;
}): React.ReactElement {
  const { reference, current } = props;
  const bins = reference.shares.length;
  const top = Math.max(0.0001, ...reference.shares, ...(current?.shares ?? []));
  const slot = CHART.width / Math.max(1, bins);
  const bar = Math.max(1, slot / 2 - 1);
  const height = (share: number): number => (share / top) * (CHART.height - 2);
  return (
    <svg
      className="jp-mlops-drift-chart"
      data-testid="mlops-drift-histogram"
      viewBox={`0 0 ${CHART.width} ${CHART.height}`}
      preserveAspectRatio="none"
      role="img"
      aria-label="reference and current distribution"
    >
      {reference.shares.map((share, i) => (
        <g key={i}>
          <title>
            {`${reference.labels[i]}: reference ${(share * 100).toFixed(1)}%` +
              (current ? `, current ${((current.shares[i] ?? 0) * 100).toFixed(1)}%` : '')}
          </title>
          <rect
            className="jp-mlops-drift-reference"
            x={i * slot}
            y={CHART.height - height(share)}
            width={bar}
            height={height(share)}
          />
          {current ? (
            <rect
              className="jp-mlops-drift-current"
              x={i * slot + bar + 1}
              y={CHART.height - height(current.shares[i] ?? 0)}
              width={bar}
              height={height(current.shares[i] ?? 0)}
            />
          ) : null}
        </g>
      ))}
    </svg>
  );
}
