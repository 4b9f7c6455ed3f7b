/**
 * A run's or a deployment's status as a colored chip (the colors come from style/runs.css and
 * style/deployments.css by status).
 */
import React from 'react';

export function StatusChip(props: { status: string; testId?: string }): React.ReactElement {
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
