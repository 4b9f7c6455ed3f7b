/**
 * The versions of one function with its alias history, fetched again whenever the store
 * changes (a run registered a version, an alias moved) or a run this client watched ends.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

import { api, IVersionList, storeChanged } from '../api';
import { errorMessage } from './format';
import { runsFinished } from './runPager';

/** Changes often come in bursts (a sweep's runs finishing): one reload per burst. */
const RELOAD_DEBOUNCE_MS = 300;

export interface IVersionsState {
  list: IVersionList | null;
  loading: boolean;
  error: string | null;
  reload: () => void;
}

export function useVersions(fn: string | null): IVersionsState {
  const [list, setList] = useState<IVersionList | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);
  const timer = useRef<number | null>(null);

  const reload = useCallback(() => setGeneration(old => old + 1), []);

  useEffect(() => setList(null), [fn]);

  useEffect(() => {
    if (fn === null) {
      return;
    }
    let current = true;
    setLoading(true);
    api
      .versions(fn)
      .then(found => {
        if (current) {
          setList(found);
          setError(null);
        }
      })
      .catch(failure => {
        if (current) {
          setError(errorMessage(failure));
        }
      })
      .finally(() => {
        if (current) {
          setLoading(false);
        }
      });
    return () => {
      current = false;
    };
  }, [fn, generation]);

  useEffect(() => {
    const soon = (): void => {
      if (timer.current !== null) {
        window.clearTimeout(timer.current);
      }
      timer.current = window.setTimeout(() => {
        timer.current = null;
        reload();
      }, RELOAD_DEBOUNCE_MS);
    };
    storeChanged.connect(soon);
    runsFinished.connect(soon);
    return () => {
      storeChanged.disconnect(soon);
      runsFinished.disconnect(soon);
      if (timer.current !== null) {
        window.clearTimeout(timer.current);
        timer.current = null;
      }
    };
  }, [reload]);

  return { list, loading, error, reload };
}
