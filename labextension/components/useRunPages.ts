/**
 * React side of RunPager: one pager per set of filters, refreshed when the store changes.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

import { IRun, storeChanged } from '../api';
import { IRunPagesState, IRunQuery, RunPager } from './runPager';

export interface IRunPages extends IRunPagesState {
  loadMore: () => void;
  refresh: () => void;
  replace: (run: IRun) => void;
}

const EMPTY: IRunPagesState = {
  runs: [],
  started: false,
  complete: false,
  loading: false,
  error: null,
  live: false
};

/** The runs matching `query` (null: none, no notebook open). */
export function useRunPages(query: IRunQuery | null): IRunPages {
  const [state, setState] = useState<IRunPagesState>(EMPTY);
  const pager = useRef<RunPager | null>(null);
  const key = query === null ? '' : JSON.stringify(query);

  useEffect(() => {
    setState(EMPTY);
    if (query === null) {
      return;
    }
    const current = new RunPager(query, setState);
    pager.current = current;
    const onStoreChanged = (): void => current.refresh();
    storeChanged.connect(onStoreChanged);
    current.loadMore();
    return () => {
      storeChanged.disconnect(onStoreChanged);
      current.dispose();
      if (pager.current === current) {
        pager.current = null;
      }
    };
    // The key stands for the query's contents.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  const loadMore = useCallback(() => pager.current?.loadMore(), []);
  const refresh = useCallback(() => pager.current?.refresh(), []);
  const replace = useCallback((run: IRun) => pager.current?.replace(run), []);
  return { ...state, loadMore, refresh, replace };
}
