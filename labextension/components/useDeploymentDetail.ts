/**
 * The details of one deployment (events, latency windows, sampled requests), fetched when it
 * is selected and again after each poll of the list, so they follow it at the same pace.
 */
import { useCallback, useEffect, useState } from 'react';

import { deployApi, IDeploymentDetail } from '../deployApi';
import { DeploymentsModel } from '../deployments';
import { errorMessage } from './format';

export interface IDetailState {
  detail: IDeploymentDetail | null;
  error: string | null;
  reload: () => void;
}

export function useDeploymentDetail(model: DeploymentsModel, name: string | null): IDetailState {
  const [detail, setDetail] = useState<IDeploymentDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration(old => old + 1), []);

  useEffect(() => {
    setDetail(null);
    setError(null);
  }, [name]);

  useEffect(() => {
    model.polled.connect(reload);
    return () => {
      model.polled.disconnect(reload);
    };
  }, [model, reload]);

  useEffect(() => {
    if (name === null) {
      return;
    }
    let current = true;
    deployApi
      .get(name)
      .then(found => {
        if (current) {
          setDetail(found);
          setError(null);
        }
      })
      .catch(failure => {
        if (current) {
          setError(errorMessage(failure));
        }
      });
    return () => {
      current = false;
    };
  }, [name, generation]);

  return {
    detail: detail !== null && detail.deployment.name === name ? detail : null,
    error,
    reload
  };
}
