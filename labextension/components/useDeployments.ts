/**
 * Re-renders with the deployments model, and keeps it polling while `active` (the sidebar
 * shows the Deployments section).
 */
import { useEffect, useReducer } from 'react';

import { DeploymentsModel } from '../deployments';

export function useDeployments(model: DeploymentsModel, active: boolean): void {
  const [, bump] = useReducer((count: number) => count + 1, 0);
  useEffect(() => {
    const onChanged = (): void => bump();
    model.changed.connect(onChanged);
    return () => {
      model.changed.disconnect(onChanged);
    };
  }, [model]);
  useEffect(() => {
    if (!active) {
      return;
    }
    const watching = model.watch();
    return () => watching.dispose();
  }, [model, active]);
}
