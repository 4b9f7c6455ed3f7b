/**
 * The loop's timeline of a deployment: drift, retraining runs, gates, promotions, redeploys
 * and rollbacks (and its own lifecycle events), oldest first, each with the ids it links.
 * Refreshed every few seconds while shown.
 */
import React, { useEffect, useState } from 'react';

import { ILoopEvent, loopApi } from '../loopApi';
import { errorMessage, formatFullTime, shortId } from './format';

const REFRESH_MS = 5000;
// The refs worth a glance: the ids that link one step to the next.
const SHOWN_REFS = ['run_id', 'champion', 'sweep', 'alias', 'cause_event', 'promote_event'];

function refsOf(event: ILoopEvent): string {
  return SHOWN_REFS.filter(
    key => typeof event.refs[key] === 'string' || typeof event.refs[key] === 'number'
  )
    .map(key => `${key} ${shortId(String(event.refs[key]), 12)}`)
    .join(' · ');
}

export function LoopTimeline(props: { name: string }): React.ReactElement {
  const { name } = props;
  const [events, setEvents] = useState<ILoopEvent[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    const load = (): void => {
      loopApi
        .events(name)
        .then(found => live && setEvents(found))
        .catch(failure => live && setProblem(errorMessage(failure)));
    };
    load();
    const timer = setInterval(load, REFRESH_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [name]);
  if (problem !== null) {
    return <div className="jp-mlops-error">{problem}</div>;
  }
  if (events === null) {
    return <p className="jp-mlops-muted">Reading events…</p>;
  }
  const loop = events.filter(event => event.source === 'loop');
  if (loop.length === 0) {
    return (
      <p className="jp-mlops-muted" data-testid="mlops-timeline-empty">
        No drift, retraining or promotion yet.
      </p>
    );
  }
  return (
    <ol className="jp-mlops-timeline" data-testid="mlops-timeline">
      {loop.map(event => (
        <li
          key={`${event.source}-${event.id}`}
          data-testid="mlops-timeline-event"
          data-kind={event.kind}
          data-run={typeof event.refs.run_id === 'string' ? event.refs.run_id : undefined}
        >
          <span className="jp-mlops-chip">{event.kind}</span>{' '}
          <span className="jp-mlops-muted" title={formatFullTime(event.created_at)}>
            {formatFullTime(event.created_at)}
          </span>{' '}
          <span>{event.message ?? ''}</span>
          {refsOf(event) ? (
            <div className="jp-mlops-mono jp-mlops-muted">{refsOf(event)}</div>
          ) : null}
        </li>
      ))}
    </ol>
  );
}
