/**
 * A deployment's status as a colored chip (the colors are the run chips', style/runs.css and
 * style/deployments.css).
 */
import React from 'react';

import { DeploymentStatus } from '../deployApi';

export function DeploymentStatusChip(props: {
  status: DeploymentStatus;
  testId?: string;
}): React.ReactElement {
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
