/**
 * The Deployments section of the sidebar: every deployment of this server with its status and
 * traffic, polled while shown (every 2 s while one is starting or restarting, else every
 * 10 s); the selected one in detail below the list. A deploy started from a cell or the
 * palette is reported here and opens its deployment.
 */
import React, { useEffect, useRef } from 'react';

import { DeploymentsModel } from '../deployments';
import { DeploymentDetails } from './DeploymentDetails';
import { DeploymentRow } from './DeploymentRow';
import { useDeployments } from './useDeployments';

export interface IDeploymentsPanelProps {
  model: DeploymentsModel;
  /** The sidebar is shown: poll. */
  active: boolean;
}

export function DeploymentsPanel(props: IDeploymentsPanelProps): React.ReactElement {
  const { model, active } = props;
  useDeployments(model, active);
  const details = useRef<HTMLDivElement | null>(null);
  const { deployments, latest } = model;
  const selected = deployments.find(deployment => deployment.name === model.selected) ?? null;

  // A deploy from a cell selects its deployment: bring its details into view.
  const revealCount = model.revealCount;
  useEffect(() => {
    if (revealCount > 0) {
      details.current?.scrollIntoView({ block: 'start', behavior: 'smooth' });
    }
  }, [revealCount, selected !== null]);

  return (
    <div className="jp-mlops-deployments" data-testid="mlops-deployments">
      {latest !== null && (
        <div
          className={`jp-mlops-outcome jp-mod-${latest.state === 'failed' ? 'failed' : 'queued'}`}
          data-testid="mlops-deploy-outcome"
          data-state={latest.state}
          data-function={latest.function}
          role={latest.state === 'failed' ? 'alert' : 'status'}
        >
          <span>{latest.message}</span>
          {latest.state !== 'deploying' && (
            <button
              type="button"
              className="jp-mlops-link-button"
              onClick={() => model.dismissLatest()}
              title="Dismiss"
            >
              ✕
            </button>
          )}
        </div>
      )}
      {model.error !== null && (
        <div className="jp-mlops-error" role="alert">
          <span>{model.error}</span>
          <button
            type="button"
            className="jp-mlops-link-button"
            onClick={() => model.refresh()}
            title="Ask the server again"
          >
            retry
          </button>
        </div>
      )}
      {!model.loaded && model.error === null && (
        <p className="jp-mlops-muted">Loading deployments…</p>
      )}
      {model.loaded && deployments.length === 0 && (
        <p className="jp-mlops-muted">
          No deployments yet. “Deploy this cell” on a function’s first cell serves it as an HTTP
          endpoint (its upstream functions need a succeeded run).
        </p>
      )}
      {deployments.length > 0 && (
        <ul className="jp-mlops-deployment-list" aria-label="Deployments">
          {deployments.map(deployment => (
            <DeploymentRow
              key={deployment.name}
              deployment={deployment}
              selected={deployment.name === model.selected}
              onSelect={name => model.select(name === model.selected ? null : name)}
            />
          ))}
        </ul>
      )}
      <div ref={details}>
        {selected !== null && (
          <DeploymentDetails
            model={model}
            deployment={selected}
            onClose={() => model.select(null)}
          />
        )}
      </div>
    </div>
  );
}
