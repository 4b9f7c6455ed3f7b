/**
 * What became of the last run or sweep started from a card: queued (with its id) or why not.
 */
import React from 'react';

import { IRunOutcome } from '../session';

export function RunOutcome(props: { outcome: IRunOutcome | null }): React.ReactElement | null {
  const { outcome } = props;
  if (outcome === null) {
    return null;
  }
  return (
    <div
      className={`jp-mlops-outcome jp-mod-${outcome.state}`}
      data-testid="mlops-run-outcome"
      data-state={outcome.state}
      data-run-id={outcome.runId}
      data-sweep-id={outcome.sweepId}
      role={outcome.state === 'failed' ? 'alert' : 'status'}
      title={outcome.runId ?? outcome.sweepId}
    >
      {outcome.message}
    </div>
  );
}
