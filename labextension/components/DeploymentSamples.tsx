/**
 * Recent requests, newest first: a sample of the requests the endpoint served, with status,
 * latency, input and output (never headers or the token). Clicking one shows it in full.
 */
import React, { useState } from 'react';

import { IDeploymentSample } from '../deployApi';
import { clockTime, formatMs, jsonPreview, momentMillis } from './deployFormat';

export function DeploymentSamples(props: {
  samples: readonly IDeploymentSample[];
}): React.ReactElement {
  const [open, setOpen] = useState<number | null>(null);
  const samples = [...props.samples].sort(
    (a, b) => (momentMillis(b.at) ?? 0) - (momentMillis(a.at) ?? 0)
  );
  if (samples.length === 0) {
    return (
      <p className="jp-mlops-muted" data-testid="mlops-deployment-samples" data-count={0}>
        No sampled requests yet (a share of the requests is kept, never headers or tokens).
      </p>
    );
  }
  return (
    <ul
      className="jp-mlops-deployment-samples"
      data-testid="mlops-deployment-samples"
      data-count={samples.length}
    >
      {samples.map((sample, index) => {
        const failed = sample.status >= 400;
        const expanded = open === index;
        return (
          <li
            key={index}
            className={`jp-mlops-deployment-sample${failed ? ' jp-mod-failed' : ''}`}
            data-testid="mlops-deployment-sample"
            data-status={sample.status}
          >
            <button
              type="button"
              className="jp-mlops-sample-line"
              aria-expanded={expanded}
              title={expanded ? 'Hide the request' : 'Show the whole request and answer'}
              onClick={() => setOpen(expanded ? null : index)}
            >
              <span className="jp-mlops-mono jp-mlops-event-time">{clockTime(sample.at)}</span>
              <span className="jp-mlops-sample-status">{sample.status}</span>
              <span className="jp-mlops-sample-latency">{formatMs(sample.latency_ms)}</span>
              <span className="jp-mlops-mono jp-mlops-sample-io">
                {jsonPreview(sample.input, 60)} → {jsonPreview(sample.output, 60)}
              </span>
            </button>
            {expanded && (
              <pre className="jp-mlops-sample-full">
                {`input:  ${JSON.stringify(sample.input, null, 2)}\n` +
                  `output: ${JSON.stringify(sample.output, null, 2)}`}
              </pre>
            )}
          </li>
        );
      })}
    </ul>
  );
}
