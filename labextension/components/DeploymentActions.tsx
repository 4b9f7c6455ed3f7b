/**
 * Stop or start a deployment, or roll it back to a version deployed before (the list of
 * `versions`, newest first). Each waits for the server; what went wrong is shown here.
 */
import React, { useEffect, useState } from 'react';

import { IDeployment } from '../deployApi';
import { DeploymentAction, DeploymentsModel } from '../deployments';
import { canStart, canStop } from '../deployStatus';
import { VERSION_LENGTH } from './deployFormat';
import { errorMessage } from './format';

export interface IDeploymentActionsProps {
  model: DeploymentsModel;
  deployment: IDeployment;
}

const BUSY_LABEL: { [action in DeploymentAction]: string } = {
  stop: 'Stopping…',
  start: 'Starting…',
  rollback: 'Rolling back…'
};

export function DeploymentActions(props: IDeploymentActionsProps): React.ReactElement {
  const { model, deployment } = props;
  const { name, versions } = deployment;
  const [target, setTarget] = useState(versions[0] ?? '');
  const [busy, setBusy] = useState<DeploymentAction | null>(null);
  const [error, setError] = useState<string | null>(null);

  // After a rollback or a redeploy the targets change: keep the choice only if still offered.
  useEffect(() => {
    setTarget(old => (versions.includes(old) ? old : (versions[0] ?? '')));
  }, [versions.join('\n')]);
  useEffect(() => setError(null), [name]);

  const run = (action: DeploymentAction): void => {
    setBusy(action);
    setError(null);
    model
      .act(name, action, action === 'rollback' ? target : undefined)
      .catch(failure =>
        setError(`${action === 'rollback' ? 'Roll back' : action}: ${errorMessage(failure)}`)
      )
      .finally(() => setBusy(null));
  };

  return (
    <div className="jp-mlops-deployment-actions">
      <div className="jp-mlops-actions">
        {canStop(deployment.status) ? (
          <button
            type="button"
            className="jp-mlops-button"
            data-testid="mlops-deployment-stop"
            disabled={busy !== null}
            onClick={() => run('stop')}
            title="Stop serving; the port and the token are kept for a later start"
          >
            {busy === 'stop' ? BUSY_LABEL.stop : 'Stop'}
          </button>
        ) : null}
        {canStart(deployment.status) ? (
          <button
            type="button"
            className="jp-mlops-button jp-mod-accept"
            data-testid="mlops-deployment-start"
            disabled={busy !== null}
            onClick={() => run('start')}
            title="Serve again, on the same port with the same token"
          >
            {busy === 'start' ? BUSY_LABEL.start : 'Start'}
          </button>
        ) : null}
        <span className="jp-mlops-spacer" />
        <select
          className="jp-mlops-rollback-select"
          data-testid="mlops-rollback-version"
          aria-label="Version to roll back to"
          value={target}
          disabled={versions.length === 0 || busy !== null}
          onChange={event => setTarget(event.target.value)}
        >
          {versions.length === 0 ? <option value="">no earlier version</option> : null}
          {versions.map(version => (
            <option key={version} value={version}>
              {version.slice(0, VERSION_LENGTH)}
            </option>
          ))}
        </select>
        <button
          type="button"
          className="jp-mlops-button"
          data-testid="mlops-rollback-button"
          disabled={versions.length === 0 || target === '' || busy !== null}
          onClick={() => run('rollback')}
          title={
            versions.length === 0
              ? 'No version was deployed here before this one'
              : `Serve ${target.slice(0, VERSION_LENGTH)} again (no request is refused meanwhile)`
          }
        >
          {busy === 'rollback' ? BUSY_LABEL.rollback : 'Roll back'}
        </button>
      </div>
      {error !== null && (
        <div className="jp-mlops-error" role="alert" data-testid="mlops-deployment-action-error">
          <span>{error}</span>
          <button
            type="button"
            className="jp-mlops-link-button"
            onClick={() => setError(null)}
            title="Dismiss"
          >
            ✕
          </button>
        </div>
      )}
    </div>
  );
}
