/**
 * The end of the deployment's log (serve.log: startup, the function's prints, tracebacks
 * with their error ids), fetched when shown, when the deployment changes state, and on
 * refresh.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';

import { deployApi } from '../deployApi';
import { errorMessage } from './format';

const LINES = 200;

export interface IDeploymentLogsProps {
  name: string;
  /** Changes when the deployment does (status, version): the log is read again. */
  stateKey: string;
}

export function DeploymentLogs(props: IDeploymentLogsProps): React.ReactElement {
  const { name, stateKey } = props;
  const [lines, setLines] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [generation, setGeneration] = useState(0);
  const box = useRef<HTMLPreElement | null>(null);
  const reload = useCallback(() => setGeneration(old => old + 1), []);

  useEffect(() => setLines(null), [name]);

  useEffect(() => {
    let current = true;
    setLoading(true);
    deployApi
      .logs(name, LINES)
      .then(found => {
        if (current) {
          setLines(found);
          setError(null);
        }
      })
      .catch(failure => {
        if (current) {
          setError(errorMessage(failure));
        }
      })
      .finally(() => {
        if (current) {
          setLoading(false);
        }
      });
    return () => {
      current = false;
    };
  }, [name, stateKey, generation]);

  // The newest lines are at the bottom: keep them in view.
  useEffect(() => {
    if (box.current !== null) {
      box.current.scrollTop = box.current.scrollHeight;
    }
  }, [lines]);

  return (
    <div className="jp-mlops-deployment-logs">
      <div className="jp-mlops-filters">
        <span className="jp-mlops-muted">
          {lines === null ? 'Reading the log…' : `last ${lines.length} lines`}
        </span>
        <span className="jp-mlops-spacer" />
        <button
          type="button"
          className="jp-mlops-link-button"
          data-testid="mlops-logs-refresh"
          onClick={reload}
          title="Read the log again"
        >
          {loading ? 'loading…' : 'refresh'}
        </button>
      </div>
      {error !== null && (
        <div className="jp-mlops-error" role="alert">
          {error}
        </div>
      )}
      <pre className="jp-mlops-logs" data-testid="mlops-deployment-logs" ref={box}>
        {lines === null
          ? ''
          : lines.length === 0
            ? '(the log is empty)'
            : lines.map(line => line.replace(/\r?\n$/, '')).join('\n')}
      </pre>
    </div>
  );
}
