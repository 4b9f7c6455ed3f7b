/**
 * Selected runs side by side: a column per run, a row per parameter and per metric. Values
 * that differ across the runs are marked, and the best value of each metric stands out.
 */
import React, { useMemo, useState } from 'react';

import { IRun, JSONValue } from '../api';
import { ICompareRow, metricRows, parameterRows } from './compare';
import { formatDuration, formatValue, shortId } from './format';
import { StatusChip } from './StatusChip';

export interface ICompareViewProps {
  runs: readonly IRun[];
  onClose: () => void;
}

/** The exact value (cells round to 6 digits), and why it stands out. */
function cellTitle(value: JSONValue | undefined, note: string | undefined): string {
  const exact = value === undefined ? 'no value' : JSON.stringify(value);
  return note === undefined ? exact : `${exact} (${note})`;
}

function ValueRow(props: { row: ICompareRow; testId: string }): React.ReactElement {
  const { row } = props;
  const title =
    row.direction === null
      ? undefined
      : row.direction === 'max'
        ? 'higher is better'
        : 'lower is better';
  return (
    <tr data-testid={props.testId} data-name={row.name}>
      <th scope="row" className="jp-mlops-compare-name" title={title}>
        {row.name}
      </th>
      {row.values.map((value, index) => {
        const classes = ['jp-mlops-compare-value'];
        if (row.differs) {
          classes.push('jp-mlops-differs');
        }
        if (row.best.has(index)) {
          classes.push('jp-mlops-best');
        }
        return (
          <td
            key={index}
            className={classes.join(' ')}
            title={cellTitle(value, row.best.has(index) ? `best, ${title}` : undefined)}
          >
            {value === undefined ? (
              <span className="jp-mlops-missing">—</span>
            ) : (
              formatValue(value, 6)
            )}
          </td>
        );
      })}
    </tr>
  );
}

function Section(props: {
  title: string;
  rows: ICompareRow[];
  testId: string;
  columns: number;
}): React.ReactElement {
  return (
    <tbody>
      <tr className="jp-mlops-compare-section">
        <th colSpan={props.columns + 1}>{props.title}</th>
      </tr>
      {props.rows.length === 0 ? (
        <tr>
          <td colSpan={props.columns + 1} className="jp-mlops-muted">
            none
          </td>
        </tr>
      ) : (
        props.rows.map(row => <ValueRow key={row.name} row={row} testId={props.testId} />)
      )}
    </tbody>
  );
}

export function CompareView(props: ICompareViewProps): React.ReactElement {
  const { runs } = props;
  const [differencesOnly, setDifferencesOnly] = useState(false);
  const parameters = useMemo(() => parameterRows(runs), [runs]);
  const metrics = useMemo(() => metricRows(runs), [runs]);
  const shown = (rows: ICompareRow[]): ICompareRow[] =>
    differencesOnly ? rows.filter(row => row.differs) : rows;

  return (
    <div className="jp-mlops-compare" data-testid="mlops-compare">
      <div className="jp-mlops-compare-bar">
        <span className="jp-mlops-compare-title">Comparing {runs.length} runs</span>
        <button
          type="button"
          className="jp-mlops-button"
          data-testid="mlops-compare-close"
          onClick={props.onClose}
          title="Back to the list of runs"
        >
          Close
        </button>
      </div>
      <label className="jp-mlops-inline-label" title="Hide the rows where every run agrees">
        <input
          type="checkbox"
          checked={differencesOnly}
          onChange={event => setDifferencesOnly(event.target.checked)}
        />
        only the differences
      </label>
      <div className="jp-mlops-compare-scroll">
        <table className="jp-mlops-compare-table">
          <thead>
            <tr>
              <th scope="col" />
              {runs.map(run => (
                <th scope="col" key={run.id} title={run.id} data-run-id={run.id}>
                  <div className="jp-mlops-mono">{shortId(run.id)}</div>
                  <div className="jp-mlops-compare-function">{run.function ?? 'notebook'}</div>
                  <StatusChip status={run.status} />
                  <div className="jp-mlops-muted">{formatDuration(run.duration)}</div>
                </th>
              ))}
            </tr>
          </thead>
          <Section
            title="Parameters"
            rows={shown(parameters)}
            testId="mlops-compare-param"
            columns={runs.length}
          />
          <Section
            title="Metrics"
            rows={shown(metrics)}
            testId="mlops-compare-metric"
            columns={runs.length}
          />
        </table>
      </div>
    </div>
  );
}
