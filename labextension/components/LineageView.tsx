/**
 * What exactly is behind a deployment: the version it serves, the runs whose values it is
 * bound to (who ran them, when), and the data sets those runs read, each with its full-content
 * sha256, size and columns. Read when the details open and when the served version changes.
 */
import React, { useEffect, useState } from 'react';

import { deployApi, IDeploymentLineage, ILineageDataset } from '../deployApi';
import { formatFullTime, shortId } from './format';

function size(bytes: number): string {
  if (bytes < 1024) {
    return `${bytes} B`;
  }
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function LineageView(props: { name: string; version: string }): React.ReactElement {
  const { name, version } = props;
  const [lineage, setLineage] = useState<IDeploymentLineage | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    deployApi
      .lineage(name)
      .then(found => live && setLineage(found))
      .catch((error: Error) => live && setProblem(error.message));
    return () => {
      live = false;
    };
  }, [name, version]);
  if (problem !== null) {
    return <div className="jp-mlops-error">{problem}</div>;
  }
  if (lineage === null) {
    return <p className="jp-mlops-muted">Reading lineage…</p>;
  }
  const runs = lineage.runs ?? [];
  return (
    <div className="jp-mlops-lineage" data-testid="mlops-lineage" data-runs={runs.length}>
      <p className="jp-mlops-muted">
        {lineage.function}@{shortId(lineage.serving_version ?? lineage.version ?? '')}
        {(lineage.aliases ?? []).length > 0 ? ` (${(lineage.aliases ?? []).join(', ')})` : ''}
        {lineage.actor ? `, deployed by ${lineage.actor}` : ''}
      </p>
      {runs.length === 0 ? (
        <p className="jp-mlops-muted">No run is bound: the function reads only parameters.</p>
      ) : null}
      <ul className="jp-mlops-lineage-runs">
        {runs.map(run => (
          <li key={run.id} data-testid="mlops-lineage-run" data-run-id={run.id}>
            <span className="jp-mlops-mono" title={run.id}>
              run {shortId(run.id)}
            </span>{' '}
            {run.function ?? 'notebook'}
            <span className="jp-mlops-muted" title={formatFullTime(run.created_at)}>
              {' '}
              {formatFullTime(run.created_at)}
              {run.actor ? ` by ${run.actor}` : ''}
            </span>
            {run.datasets.length === 0 ? (
              <div className="jp-mlops-muted">read no recorded data set</div>
            ) : (
              <ul>
                {run.datasets.map(dataset => (
                  <DatasetItem key={`${dataset.name}-${dataset.sha256}`} dataset={dataset} />
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}

function DatasetItem(props: { dataset: ILineageDataset }): React.ReactElement {
  const { dataset } = props;
  const columns = dataset.schema?.map(column => `${column.name}: ${column.type}`).join(', ');
  return (
    <li data-testid="mlops-lineage-dataset" data-name={dataset.name} data-sha256={dataset.sha256}>
      <span className="jp-mlops-mono">{dataset.name}</span>{' '}
      <span className="jp-mlops-mono jp-mlops-muted" title={`sha256 ${dataset.sha256}`}>
        {dataset.sha256.slice(0, 12)}
      </span>{' '}
      <span className="jp-mlops-muted">
        {size(dataset.size)}
        {columns ? `, ${columns}` : ''}
      </span>
    </li>
  );
}
