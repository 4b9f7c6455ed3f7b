/**
 * Where the notebook's runs and sweeps execute: the project's default, local processes, a
 * Dask cluster, or any executor a package registers. The choice lives on the notebook's
 * session, so the Run buttons, the palette and the sweep form all use it. When the chosen
 * executor has a dashboard (a Dask cluster's), a link to it is shown beside the choice.
 */
import React, { useEffect, useState } from 'react';

import { api, IExecutorList } from '../api';
import { NotebookSession } from '../session';

// One request per page load: the registered executors do not change while the server runs,
// and a dashboard appears once a cluster is started, which a refresh of the list picks up.
let listing: Promise<IExecutorList> | null = null;

function executors(refresh: boolean): Promise<IExecutorList> {
  if (listing === null || refresh) {
    listing = api.executors();
    listing.catch(() => {
      listing = null; // a failed listing is asked again next time
    });
  }
  return listing;
}

export interface IExecutorPickerProps {
  session: NotebookSession;
  /** The test id of the select, so the run and sweep forms' pickers can be told apart. */
  testId?: string;
}

export function ExecutorPicker(props: IExecutorPickerProps): React.ReactElement | null {
  const { session } = props;
  const [list, setList] = useState<IExecutorList | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const chosen = session.executor;
  useEffect(() => {
    let live = true;
    // Picking an executor refreshes the list: its cluster (and dashboard) may be new.
    executors(chosen !== null)
      .then(found => live && setList(found))
      .catch((error: Error) => live && setProblem(error.message));
    return () => {
      live = false;
    };
  }, [chosen]);
  if (problem !== null) {
    return (
      <div className="jp-mlops-hint" data-testid="mlops-executor-problem">
        Executors unknown: {problem}
      </div>
    );
  }
  if (list === null) {
    return null;
  }
  const name = chosen ?? list.default;
  const info = list.executors.find(executor => executor.name === name);
  return (
    <div className="jp-mlops-executor" data-testid="mlops-executor">
      <label className="jp-mlops-sweep-field">
        <span className="jp-mlops-param-label">run on</span>
        <select
          className="jp-mod-styled"
          data-testid={props.testId ?? 'mlops-executor-select'}
          value={name}
          onChange={event =>
            (session.executor = event.target.value === list.default ? null : event.target.value)
          }
        >
          {list.executors.map(executor => (
            <option
              key={executor.name}
              value={executor.name}
              disabled={!executor.available}
              title={executor.reason ?? executor.description}
            >
              {executor.name}
              {executor.name === list.default ? ' (default)' : ''}
              {executor.available ? '' : ' (not installed)'}
            </option>
          ))}
        </select>
      </label>
      {info?.dashboard_url ? (
        <a
          className="jp-mlops-link"
          data-testid="mlops-executor-dashboard"
          href={info.dashboard_url}
          target="_blank"
          rel="noopener noreferrer"
          title={`The ${info.name} dashboard: tasks, workers and their memory`}
        >
          dashboard
        </a>
      ) : null}
    </div>
  );
}
