/**
 * One deployment in the list: its status, name, function@version and URL, its requests and
 * errors, and the latency of the last minutes. Clicking it shows its details.
 */
import React from 'react';

import { IDeployment, servedVersion } from '../deployApi';
import { StatusChip } from './StatusChip';
import { formatMs, functionAtVersion } from './deployFormat';

export interface IDeploymentRowProps {
  deployment: IDeployment;
  selected: boolean;
  onSelect: (name: string) => void;
}

function minutes(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;
}

export function DeploymentRow(props: IDeploymentRowProps): React.ReactElement {
  const { deployment, selected } = props;
  const { stats } = deployment;
  const version = servedVersion(deployment);
  const next = version === deployment.version ? '' : `; starting ${deployment.version}`;
  const period = `of the last ${minutes(stats.window_s)}`;
  return (
    <li
      className={`jp-mlops-deployment-row${selected ? ' jp-mlops-selected' : ''}`}
      data-testid="mlops-deployment-row"
      data-name={deployment.name}
      data-status={deployment.status}
      data-version={version}
    >
      <button
        type="button"
        className="jp-mlops-deployment-select"
        aria-pressed={selected}
        title={selected ? 'Shown below' : `Show ${deployment.name}: try it, its traffic and logs`}
        onClick={() => props.onSelect(deployment.name)}
      >
        <span className="jp-mlops-deployment-line">
          <StatusChip status={deployment.status} testId="mlops-deployment-status" />
          <span className="jp-mlops-deployment-name">{deployment.name}</span>
          <span
            className="jp-mlops-mono jp-mlops-deployment-version"
            data-testid="mlops-deployment-version"
            title={`${deployment.function} version ${version}${next}`}
          >
            {functionAtVersion(deployment.function, version)}
          </span>
        </span>
        <span
          className="jp-mlops-mono jp-mlops-deployment-url"
          data-testid="mlops-deployment-url"
          title={deployment.url}
        >
          {deployment.url}
        </span>
        <span className="jp-mlops-deployment-line jp-mlops-deployment-stats">
          <span
            data-testid="mlops-deployment-requests"
            data-value={stats.requests}
            title="requests served since it was first deployed"
          >
            {stats.requests.toLocaleString()} req
          </span>
          <span
            className={stats.errors > 0 ? 'jp-mlops-deployment-errors' : undefined}
            data-testid="mlops-deployment-errors"
            data-value={stats.errors}
            title={`answers with status 500 or more (and ${stats.rejected} refused with a 4xx)`}
          >
            {stats.errors.toLocaleString()} err
          </span>
          <span
            data-testid="mlops-deployment-p50"
            title={`median latency, the worst window ${period}`}
          >
            p50 {formatMs(stats.p50_ms)}
          </span>
          <span
            data-testid="mlops-deployment-p99"
            title={`99th percentile latency, the worst window ${period}`}
          >
            p99 {formatMs(stats.p99_ms)}
          </span>
        </span>
      </button>
    </li>
  );
}
