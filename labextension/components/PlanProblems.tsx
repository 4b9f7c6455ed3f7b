/**
 * Why the notebook has no plan (a bad tag, naming its cell), and the parser's warnings.
 */
import React from 'react';

import { NotebookSession } from '../session';

export interface IPlanProblemsProps {
  session: NotebookSession;
  /** Selects and scrolls to a cell of the notebook. */
  onRevealCell: (index: number) => void;
}

export function PlanProblems(props: IPlanProblemsProps): React.ReactElement | null {
  const { session, onRevealCell } = props;
  const problem = session.problem;
  const warnings = session.plan?.warnings ?? [];
  if (problem === null && warnings.length === 0) {
    return null;
  }
  const cellLink = (cell: number | null): React.ReactNode =>
    cell === null ? null : (
      <button type="button" className="jp-mlops-cell-link" onClick={() => onRevealCell(cell)}>
        cell {cell}
      </button>
    );
  return (
    <div className="jp-mlops-problems">
      {problem ? (
        <div
          className="jp-mlops-plan-error"
          data-testid="mlops-plan-error"
          data-cell={problem.cell ?? undefined}
          role="alert"
        >
          {cellLink(problem.cell)}
          <span>{problem.message}</span>
        </div>
      ) : null}
      {warnings.length > 0 ? (
        <div className="jp-mlops-warnings" aria-label={`${warnings.length} warnings`}>
          {warnings.map((warning, i) => (
            <div
              key={i}
              className="jp-mlops-plan-warning"
              data-testid="mlops-plan-warning"
              data-cell={warning.cell ?? undefined}
            >
              {cellLink(warning.cell)}
              <span>{warning.message}</span>
            </div>
          ))}
        </div>
      ) : null}
    </div>
  );
}
