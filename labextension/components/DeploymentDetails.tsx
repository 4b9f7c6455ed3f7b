/**
 * The selected deployment in full: what it serves and from where, why it failed, Stop /
 * Start / Roll back, the token (once, when this page just created it), how to call it, a
 * form to try it, its traffic and latency over time, drift, its retraining policy and the
 * loop's timeline, sampled requests, events and log.
 */
import React from 'react';

import { IDeployment, servedVersion } from '../deployApi';
import { DeploymentsModel } from '../deployments';
import { CurlExample } from './CurlExample';
import { DeploymentActions } from './DeploymentActions';
import { DeploymentEvents } from './DeploymentEvents';
import { DeploymentLogs } from './DeploymentLogs';
import { DeploymentSamples } from './DeploymentSamples';
import { DriftView } from './DriftView';
import { LineageView } from './LineageView';
import { LoopTimeline } from './LoopTimeline';
import { PolicyForm } from './PolicyForm';
import { StatusChip } from './StatusChip';
import { formatMs, functionAtVersion } from './deployFormat';
import { formatFullTime, shortId } from './format';
import { LatencyChart } from './LatencyChart';
import { TokenNotice } from './TokenNotice';
import { TryRequestForm } from './TryRequestForm';
import { useDeploymentDetail } from './useDeploymentDetail';

export interface IDeploymentDetailsProps {
  model: DeploymentsModel;
  /** The deployment as the list has it; the details' copy wins when it is newer. */
  deployment: IDeployment;
  onClose: () => void;
}

function newer(a: IDeployment, b: IDeployment | undefined): IDeployment {
  if (b === undefined) {
    return a;
  }
  return (Date.parse(b.updated_at) || 0) > (Date.parse(a.updated_at) || 0) ? b : a;
}

export function DeploymentDetails(props: IDeploymentDetailsProps): React.ReactElement {
  const { model } = props;
  const { detail, error } = useDeploymentDetail(model, props.deployment.name);
  const deployment = newer(props.deployment, detail?.deployment);
  const { name, stats } = deployment;
  const version = servedVersion(deployment);
  const token = model.freshToken(name);
  const minutes = Math.round(stats.window_s / 60);
  const windowErrors = (detail?.windows ?? []).reduce((sum, window) => sum + window.errors, 0);
  return (
    <div
      className="jp-mlops-deployment-details"
      data-testid="mlops-deployment-details"
      data-name={name}
      data-status={deployment.status}
      data-version={version}
    >
      <div className="jp-mlops-compare-bar">
        <span className="jp-mlops-compare-title">{name}</span>
        <StatusChip status={deployment.status} testId="mlops-details-status" />
        <span className="jp-mlops-spacer" />
        <button
          type="button"
          className="jp-mlops-link-button"
          data-testid="mlops-deployment-close"
          onClick={props.onClose}
          title="Close the details"
        >
          ✕
        </button>
      </div>
      <dl className="jp-mlops-deployment-facts">
        <dt>serves</dt>
        <dd className="jp-mlops-mono" data-testid="mlops-details-version" title={version}>
          {functionAtVersion(deployment.function, version)}
          {deployment.alias ? ` (${deployment.alias})` : ''}
          {version !== deployment.version
            ? `, starting ${functionAtVersion(deployment.function, deployment.version)}`
            : ''}
        </dd>
        <dt>from</dt>
        <dd title={deployment.from_run ?? undefined}>
          {deployment.notebook}
          {deployment.from_run ? `, inputs of run ${shortId(deployment.from_run)}` : ''}
        </dd>
        <dt>at</dt>
        <dd className="jp-mlops-mono" data-testid="mlops-details-url">
          {deployment.url}
        </dd>
        <dt>process</dt>
        <dd>
          {deployment.pid === null ? 'none' : `pid ${deployment.pid}`}, {deployment.workers}{' '}
          {deployment.workers === 1 ? 'worker' : 'workers'}, {deployment.restarts}{' '}
          {deployment.restarts === 1 ? 'restart' : 'restarts'}
          {deployment.started_at ? (
            <span title={formatFullTime(deployment.started_at)}>
              , up since {formatFullTime(deployment.started_at)}
            </span>
          ) : null}
        </dd>
      </dl>
      {deployment.error ? (
        <div className="jp-mlops-error" role="alert" data-testid="mlops-deployment-error">
          <span>{deployment.error}</span>
        </div>
      ) : null}
      {error !== null && (
        <div className="jp-mlops-error" role="alert">
          {error}
        </div>
      )}
      <DeploymentActions model={model} deployment={deployment} />
      {token !== null ? (
        <TokenNotice token={token} onDismiss={() => model.dismissToken(name)} />
      ) : null}

      <h4 className="jp-mlops-subhead">Call it</h4>
      <CurlExample url={deployment.url} example={deployment.example} />

      <h4 className="jp-mlops-subhead">Try it</h4>
      <TryRequestForm key={`${name}\n${version}`} model={model} deployment={deployment} />

      <h4 className="jp-mlops-subhead">Traffic</h4>
      <div className="jp-mlops-deployment-traffic" data-testid="mlops-deployment-traffic">
        <span data-testid="mlops-details-requests" data-value={stats.requests}>
          {stats.requests.toLocaleString()} requests
        </span>
        <span
          className={stats.errors > 0 ? 'jp-mlops-deployment-errors' : undefined}
          data-testid="mlops-details-errors"
          data-value={stats.errors}
          title={`${windowErrors} in the windows shown`}
        >
          {stats.errors.toLocaleString()} errors
        </span>
        <span title="Refused with a 4xx: wrong input, no or a wrong token">
          {stats.rejected.toLocaleString()} rejected
        </span>
        <span title={`The worst window of the last ${minutes} min`}>
          p50 {formatMs(stats.p50_ms)} · p90 {formatMs(stats.p90_ms)} · p99 {formatMs(stats.p99_ms)}
        </span>
      </div>
      <LatencyChart windows={detail?.windows ?? []} />

      <h4 className="jp-mlops-subhead">Lineage</h4>
      <LineageView name={name} version={version} />

      <h4 className="jp-mlops-subhead">Drift</h4>
      <DriftView name={name} />

      <h4 className="jp-mlops-subhead">Retraining policy</h4>
      <PolicyForm key={name} name={name} notebook={deployment.notebook} />

      <h4 className="jp-mlops-subhead">Loop</h4>
      <LoopTimeline name={name} />

      <h4 className="jp-mlops-subhead">Recent requests</h4>
      <DeploymentSamples samples={detail?.samples ?? []} />

      <h4 className="jp-mlops-subhead">Events</h4>
      <DeploymentEvents events={detail?.events ?? []} />

      <h4 className="jp-mlops-subhead">Log</h4>
      <DeploymentLogs name={name} stateKey={`${deployment.status}\n${version}`} />
    </div>
  );
}
