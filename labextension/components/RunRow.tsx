/**
 * One run in the list, on four fixed-height lines: what ran and how it went; its id, start
 * and duration; its parameters; its metrics (or, failed, its error).
 */
import React from 'react';

import { IRun } from '../api';
import {
  formatDuration,
  formatFullTime,
  formatTime,
  secondsSince,
  shortId,
  summarize
} from './format';
import { isActive } from './runPager';
import { StatusChip } from './StatusChip';

/** Pixels; VirtualList places rows by this, style/runs.css lays them out to fit. */
export const RUN_ROW_HEIGHT = 72;

export interface IRunRowProps {
  run: IRun;
  style: React.CSSProperties;
  position: number;
  total: number;
  selected: boolean;
  /** A cancel request for this run is on its way. */
  cancelling: boolean;
  onToggle: (run: IRun, selected: boolean) => void;
  onCancel: (run: IRun) => void;
  onOpen: (run: IRun) => void;
}

function duration(run: IRun): string {
  if (run.duration !== null) {
    return formatDuration(run.duration);
  }
  // Still going: the time so far.
  return run.status === 'running' ? `${formatDuration(secondsSince(run.started_at))}…` : '';
}

/** Where a run ran, when not in this server's own processes: a Dask worker, a KFP run. */
function where(run: IRun): string {
  if (run.worker) {
    return `${run.executor} ${run.worker.replace(/^[a-z]+:\/\//, '')}`;
  }
  return run.executor === 'local' ? '' : run.executor;
}

function whereTitle(run: IRun): string {
  const parts = [`executor ${run.executor}`];
  if (run.worker) {
    parts.push(`worker ${run.worker}`);
  }
  if (run.external_id) {
    parts.push(`external run ${run.external_id}`);
  }
  return parts.join(', ');
}

function statusTitle(run: IRun): string {
  if (run.error !== null) {
    const where = run.error.cell === null ? '' : ` (cell ${run.error.cell})`;
    return `${run.status}: ${run.error.ename}: ${run.error.evalue}${where}`;
  }
  return run.status;
}

function RunRowView(props: IRunRowProps): React.ReactElement {
  const { run } = props;
  const parameters = summarize(run.parameters);
  const metrics = summarize(run.metrics);
  const started = run.started_at ?? run.created_at;
  const canOpen =
    run.output_notebook !== null && (run.status === 'succeeded' || run.status === 'failed');
  const classes = ['jp-mlops-run-row'];
  if (props.selected) {
    classes.push('jp-mlops-selected');
  }
  return (
    <div
      className={classes.join(' ')}
      style={props.style}
      data-testid="mlops-run-row"
      data-run-id={run.id}
      data-status={run.status}
      role="listitem"
      aria-posinset={props.position + 1}
      aria-setsize={props.total}
    >
      <div className="jp-mlops-run-line">
        <input
          type="checkbox"
          data-testid="mlops-run-select"
          checked={props.selected}
          onChange={event => props.onToggle(run, event.target.checked)}
          aria-label={`Select run ${shortId(run.id)} to compare`}
        />
        <span title={statusTitle(run)}>
          <StatusChip status={run.status} testId="mlops-run-status" />
        </span>
        <span
          className="jp-mlops-run-function"
          title={run.version ? `version ${run.version}` : undefined}
        >
          {run.function ?? 'notebook'}
        </span>
        {isActive(run) && (
          <button
            type="button"
            className="jp-mlops-button jp-mlops-run-action"
            data-testid="mlops-run-cancel"
            disabled={props.cancelling}
            onClick={() => props.onCancel(run)}
            title={`Cancel run ${shortId(run.id)}`}
          >
            {props.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {canOpen && (
          <button
            type="button"
            className="jp-mlops-button jp-mlops-run-action"
            data-testid="mlops-run-open"
            onClick={() => props.onOpen(run)}
            title="Open the output notebook"
          >
            Open
          </button>
        )}
      </div>
      <div className="jp-mlops-run-line jp-mlops-run-meta">
        <span className="jp-mlops-mono" title={run.id}>
          {shortId(run.id)}
        </span>
        <span className="jp-mlops-run-time" title={`started ${formatFullTime(started)}`}>
          {formatTime(started)}
        </span>
        <span className="jp-mlops-run-duration">{duration(run)}</span>
        {where(run) ? (
          <span
            className="jp-mlops-run-where"
            data-testid="mlops-run-where"
            title={whereTitle(run)}
          >
            {where(run)}
          </span>
        ) : null}
        {run.actor ? (
          <span className="jp-mlops-run-actor" data-testid="mlops-run-actor" title="who ran it">
            {run.actor}
          </span>
        ) : null}
      </div>
      <div className="jp-mlops-run-line jp-mlops-run-values">
        <span className="jp-mlops-run-params" title={parameters}>
          {parameters || 'no parameters'}
        </span>
      </div>
      <div className="jp-mlops-run-line jp-mlops-run-values">
        {metrics ? (
          <span className="jp-mlops-run-metrics" title={metrics}>
            {metrics}
          </span>
        ) : run.error !== null ? (
          <span
            className={run.status === 'failed' ? 'jp-mlops-run-error' : 'jp-mlops-run-params'}
            title={statusTitle(run)}
          >
            {run.error.ename}: {run.error.evalue}
          </span>
        ) : null}
      </div>
    </div>
  );
}

/** While scrolling, rows already in view keep their props: skip re-rendering them. */
function sameRow(a: IRunRowProps, b: IRunRowProps): boolean {
  return (
    a.run === b.run &&
    a.selected === b.selected &&
    a.cancelling === b.cancelling &&
    a.position === b.position &&
    a.total === b.total &&
    a.style.top === b.style.top &&
    a.style.height === b.style.height &&
    a.onToggle === b.onToggle &&
    a.onCancel === b.onCancel &&
    a.onOpen === b.onOpen &&
    // A running run's time so far moves on each poll.
    a.run.status !== 'running'
  );
}

export const RunRow = React.memo(RunRowView, sameRow);
