/**
 * The Functions section: a card per function of the active notebook, then the whole
 * notebook. One sweep form is open at a time.
 */
import React from 'react';

import { NotebookSession } from '../session';
import { FunctionCard } from './FunctionCard';
import { NotebookCard } from './NotebookCard';

export interface IFunctionsPanelProps {
  session: NotebookSession;
  /** Scrolls the notebook to a function's first cell. */
  onReveal: (fn: string) => void;
}

export function FunctionsPanel(props: IFunctionsPanelProps): React.ReactElement {
  const { session, onReveal } = props;
  const sweep = session.sweepTarget; // the sidebar re-renders when the session changes
  const plan = session.plan;
  if (plan === null) {
    return (
      <div className="jp-mlops-empty">
        {session.parsing ? 'Reading the notebook…' : 'No plan: fix the problem above.'}
      </div>
    );
  }
  return (
    <div className="jp-mlops-functions-list">
      {plan.functions.length === 0 ? (
        <div className="jp-mlops-empty">
          No functions yet. Tag a cell <code>mlops:fn:NAME</code> (MLOps ▸ Tag as function, or the
          tag button on a cell) to make one.
        </div>
      ) : null}
      {plan.functions.map(fn => (
        <FunctionCard
          key={fn.name}
          session={session}
          fn={fn}
          sweeping={sweep === fn.name}
          onSweep={open => (session.sweepTarget = open ? fn.name : undefined)}
          onReveal={() => onReveal(fn.name)}
        />
      ))}
      <NotebookCard
        session={session}
        sweeping={sweep === null}
        onSweep={open => (session.sweepTarget = open ? null : undefined)}
      />
    </div>
  );
}
