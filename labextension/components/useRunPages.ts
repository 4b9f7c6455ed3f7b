/**
 * React side of RunPager: one pager per set of filters, refreshed when the store changes.
 */
import { useCallback, useEffect, useRef, useState } from 'react';

import { IRun, storeChanged } from '../api';
import { EMPTY_PAGES, IRunPagesState, IRunQuery, RunPager } from './runPager';

export interface IRunPages extends IRunPagesState {
  loadMore: () => void;
  refresh: () => void;
  replace: (run: IRun) => void;
}

const EMPTY = EMPTY_PAGES;

/** The runs matching `query` (null: none, no notebook open). */
export function useRunPages(query: IRunQuery | null): IRunPages {
  const key = query === null ? '' : JSON.stringify(query);
  // Each state remembers the query it belongs to: on a filter change the old list is not
  // painted under the new filter for the frame before the effect below clears it.
  const [tagged, setTagged] = useState<{ key: string; pages: IRunPagesState }>({
    key,
    pages: EMPTY
  });
  const state = tagged.key === key ? tagged.pages : EMPTY;
  const pager = useRef<RunPager | null>(null);

  useEffect(() => {
    setTagged({ key, pages: EMPTY });
    if (query === null) {
      return;
    }
    const current = new RunPager(query, pages => setTagged({ key, pages }));
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
