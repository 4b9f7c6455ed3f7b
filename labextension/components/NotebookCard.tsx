/**
 * The whole notebook as one run: every cell top to bottom with the values the forms hold.
 * Parameters that no function reads get their field here.
 */
import React from 'react';

import { NotebookSession } from '../session';
import { ParameterForm } from './ParameterForm';
import { RunOutcome } from './RunOutcome';
import { SweepForm } from './SweepForm';

export interface INotebookCardProps {
  session: NotebookSession;
  sweeping: boolean;
  onSweep: (open: boolean) => void;
}

export function NotebookCard(props: INotebookCardProps): React.ReactElement | null {
  const { session, sweeping, onSweep } = props;
  const plan = session.plan;
  if (plan === null) {
    return null;
  }
  const read = new Set(plan.functions.flatMap(fn => fn.parameters));
  const unread = plan.parameters.map(p => p.name).filter(name => !read.has(name));
  const changed = Object.entries(session.changedValues());
  const invalid = session.hasValueErrors();
  const outcome = session.outcome(null);
  return (
    <div className="jp-mlops-function jp-mlops-notebook-card" data-testid="mlops-notebook">
      <div className="jp-mlops-function-header">
        <span className="jp-mlops-function-name">whole notebook</span>
      </div>
      <ParameterForm session={session} names={unread} />
      <div className="jp-mlops-hint" data-testid="mlops-notebook-values">
        {changed.length === 0
          ? 'Runs every cell with the default values.'
          : `Runs every cell with ${changed.map(([name, text]) => `${name}=${text}`).join(', ')}.`}
      </div>
      <div className="jp-mlops-actions">
        <button
          type="button"
          className="jp-mlops-button jp-mod-accept"
          data-testid="mlops-run-notebook"
          disabled={invalid || outcome?.state === 'starting'}
          title={
            invalid
              ? 'Fix the values marked in red first'
              : 'Run the whole notebook as a tracked run'
          }
          onClick={() => void session.run(null).catch(() => undefined)}
        >
          Run notebook
        </button>
        <button
          type="button"
          className={`jp-mlops-button${sweeping ? ' jp-mod-active' : ''}`}
          data-testid="mlops-sweep-notebook"
          disabled={plan.parameters.length === 0}
          aria-expanded={sweeping}
          onClick={() => onSweep(!sweeping)}
        >
          Sweep notebook…
        </button>
      </div>
      <RunOutcome outcome={outcome} />
      {sweeping ? <SweepForm session={session} fn={null} onClose={() => onSweep(false)} /> : null}
    </div>
  );
}
