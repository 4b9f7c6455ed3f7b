/**
 * A run's status as a colored chip (the color comes from style/runs.css by status).
 */
import React from 'react';

import { RunStatus } from '../api';

export function RunStatusChip(props: { status: RunStatus; testId?: string }): React.ReactElement {
  return (
    <span
      className={`jp-mlops-status jp-mlops-status-${props.status}`}
      data-testid={props.testId}
      data-status={props.status}
    >
      {props.status}
    </span>
  );
}
