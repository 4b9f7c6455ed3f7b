/**
 * The lifecycle of a deployment, newest first: deployed, redeployed, rolled back, crashed,
 * restarted, stopped… each with its version and the server's message.
 */
import React from 'react';

import { IDeploymentEvent } from '../deployApi';
import { clockTime, momentMillis, VERSION_LENGTH } from './deployFormat';

const PROBLEMS = new Set(['crashed', 'failed']);

export function DeploymentEvents(props: {
  events: readonly IDeploymentEvent[];
}): React.ReactElement {
  const events = [...props.events].sort(
    (a, b) => (momentMillis(b.at) ?? 0) - (momentMillis(a.at) ?? 0)
  );
  if (events.length === 0) {
    return <p className="jp-mlops-muted">No events yet.</p>;
  }
  return (
    <ol className="jp-mlops-deployment-events" data-testid="mlops-deployment-events">
      {events.map((event, index) => (
        <li
          key={index}
          className={`jp-mlops-deployment-event${PROBLEMS.has(event.kind) ? ' jp-mod-problem' : ''}`}
          data-testid="mlops-deployment-event"
          data-kind={event.kind}
          data-version={event.version ?? ''}
        >
          <span className="jp-mlops-mono jp-mlops-event-time">{clockTime(event.at)}</span>
          <span className="jp-mlops-event-kind">{event.kind.replace('_', ' ')}</span>
          {event.version ? (
            <span className="jp-mlops-mono jp-mlops-muted" title={event.version}>
              {event.version.slice(0, VERSION_LENGTH)}
            </span>
          ) : null}
          {event.actor ? (
            <span className="jp-mlops-muted" data-testid="mlops-event-actor">
              by {event.actor}
            </span>
          ) : null}
          {event.message ? (
            <span className="jp-mlops-event-message" title={event.message}>
              {event.message}
            </span>
          ) : null}
        </li>
      ))}
    </ol>
  );
}
