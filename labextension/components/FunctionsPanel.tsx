/**
 * The Functions section: a card per function of the active notebook, then the whole
 * notebook. One sweep form is open at a time.
 */
import React, { useState } from 'react';

import { NotebookSession } from '../session';
import { FunctionCard } from './FunctionCard';
import { NotebookCard } from './NotebookCard';

export interface IFunctionsPanelProps {
  session: NotebookSession;
  /** Scrolls the notebook to a function's first cell. */
  onReveal: (fn: string) => void;
}

/** Which sweep form is open: a function's name, the whole notebook, or none. */
type SweepTarget = { fn: string | null } | null;

export function FunctionsPanel(props: IFunctionsPanelProps): React.ReactElement {
  const { session, onReveal } = props;
  const [sweep, setSweep] = useState<SweepTarget>(null);
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
          sweeping={sweep !== null && sweep.fn === fn.name}
          onSweep={open => setSweep(open ? { fn: fn.name } : null)}
          onReveal={() => onReveal(fn.name)}
        />
      ))}
      <NotebookCard
        session={session}
        sweeping={sweep !== null && sweep.fn === null}
        onSweep={open => setSweep(open ? { fn: null } : null)}
      />
    </div>
  );
}
