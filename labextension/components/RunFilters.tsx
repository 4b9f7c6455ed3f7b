/**
 * The filters of the Runs section: function, status and sweep id. The sweep id is applied
 * once typing pauses, so each keystroke does not start a new listing.
 */
import React, { useEffect, useState } from 'react';

import { RunStatus } from '../api';

export const RUN_STATUSES: readonly RunStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'interrupted'
];

const SWEEP_DEBOUNCE_MS = 400;
const ALL = '';

export interface IRunFilterValues {
  function: string | null;
  status: RunStatus | null;
  sweep: string;
}

export interface IRunFiltersProps {
  functionNames: readonly string[];
  value: IRunFilterValues;
  onChange: (value: IRunFilterValues) => void;
}

function isStatus(text: string): text is RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(text);
}

export function RunFilters(props: IRunFiltersProps): React.ReactElement {
  const { value, onChange } = props;
  const [sweepText, setSweepText] = useState(value.sweep);

  useEffect(() => setSweepText(value.sweep), [value.sweep]);

  useEffect(() => {
    if (sweepText.trim() === value.sweep) {
      return;
    }
    const apply = (): void => onChange({ ...value, sweep: sweepText.trim() });
    const timer = window.setTimeout(apply, SWEEP_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [sweepText, value, onChange]);

  // A function filtered on that is no longer in the notebook stays choosable.
  const functions =
    value.function !== null && !props.functionNames.includes(value.function)
      ? [...props.functionNames, value.function]
      : props.functionNames;

  return (
    <div className="jp-mlops-filters">
      <label className="jp-mlops-filter">
        <span>Function</span>
        <select
          data-testid="mlops-filter-function"
          value={value.function ?? ALL}
          onChange={event => onChange({ ...value, function: event.target.value || null })}
        >
          <option value={ALL}>all</option>
          {functions.map(name => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label className="jp-mlops-filter">
        <span>Status</span>
        <select
          data-testid="mlops-filter-status"
          value={value.status ?? ALL}
          onChange={event => {
            const text = event.target.value;
            onChange({ ...value, status: isStatus(text) ? text : null });
          }}
        >
          <option value={ALL}>all</option>
          {RUN_STATUSES.map(status => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </label>
      <label className="jp-mlops-filter jp-mlops-filter-sweep">
        <span>Sweep</span>
        <input
          type="text"
          data-testid="mlops-filter-sweep"
          placeholder="sweep id"
          value={sweepText}
          spellCheck={false}
          onChange={event => setSweepText(event.target.value)}
          onKeyDown={event => {
            if (event.key === 'Enter') {
              onChange({ ...value, sweep: sweepText.trim() });
            }
          }}
        />
      </label>
    </div>
  );
}
