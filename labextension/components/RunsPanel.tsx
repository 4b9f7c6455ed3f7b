/**
 * The Runs section of the sidebar: the runs of the open notebook, newest first, filtered,
 * live while any is queued or running, in a virtualized list paged from the server; pick
 * two or more to compare them.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import React, { useCallback, useEffect, useMemo, useState } from 'react';

import { api, IRun, MLOpsAPIError } from '../api';
import { openOutput } from '../outputViewer';
import { CompareView } from './CompareView';
import { errorMessage, shortId } from './format';
import { IRunFilterValues, RunFilters } from './RunFilters';
import { PAGE_SIZE } from './runPager';
import { RUN_ROW_HEIGHT, RunRow } from './RunRow';
import { useRunPages } from './useRunPages';
import { VirtualList } from './VirtualList';

export interface IRunsPanelProps {
  notebookPath: string | null;
  functionNames: string[];
  app: JupyterFrontEnd;
}

/** Fetch the next page once the view is this many rows from the end of what is loaded. */
const PREFETCH_ROWS = 40;

const NO_FILTERS: IRunFilterValues = { function: null, status: null, sweep: '' };

function countText(loaded: number, complete: boolean, started: boolean, failed: boolean): string {
  if (!started) {
    return failed ? 'No runs loaded' : 'Loading runs…';
  }
  const runs = loaded === 1 ? 'run' : 'runs';
  if (complete) {
    return `${loaded.toLocaleString()} ${runs}`;
  }
  // The server pages with a cursor and gives no total: say only what is known.
  return `${loaded.toLocaleString()} ${runs} loaded · more on the server`;
}

export function RunsPanel(props: IRunsPanelProps): React.ReactElement {
  const { notebookPath, app } = props;
  const [filters, setFilters] = useState<IRunFilterValues>(NO_FILTERS);
  const query = useMemo(
    () => (notebookPath === null ? null : { notebook: notebookPath, ...filters }),
    [notebookPath, filters]
  );
  const pages = useRunPages(query);
  const { loadMore, replace, refresh } = pages;

  // Selected runs are kept by id with their last known record, so a selection survives
  // filtering the list (and the comparison shows runs that are filtered out).
  const [selected, setSelected] = useState<ReadonlyMap<string, IRun>>(new Map());
  const [comparing, setComparing] = useState(false);
  const [cancelling, setCancelling] = useState<ReadonlySet<string>>(new Set());
  const [notice, setNotice] = useState<string | null>(null);

  // Another notebook: another set of runs to pick from.
  useEffect(() => {
    setSelected(new Map());
    setComparing(false);
    setNotice(null);
  }, [notebookPath]);

  const onVisibleRange = useCallback(
    (_first: number, end: number) => {
      if (end >= pages.runs.length - PREFETCH_ROWS && !pages.complete && pages.started) {
        loadMore();
      }
    },
    [pages.runs.length, pages.complete, pages.started, loadMore]
  );

  const onToggle = useCallback((run: IRun, on: boolean) => {
    setSelected(old => {
      const next = new Map(old);
      if (on) {
        next.set(run.id, run);
      } else {
        next.delete(run.id);
      }
      return next;
    });
  }, []);

  const onCancel = useCallback(
    (run: IRun) => {
      setCancelling(old => new Set(old).add(run.id));
      api
        .cancelRun(run.id)
        .then(cancelled => {
          replace(cancelled);
          setNotice(null);
        })
        .catch(error => {
          // 409: it finished before the cancel arrived; show its final state.
          setNotice(
            error instanceof MLOpsAPIError && error.status === 409
              ? `Not cancelled: ${error.body.message}`
              : `Cancelling run ${shortId(run.id)} failed: ${errorMessage(error)}`
          );
          refresh();
        })
        .finally(() =>
          setCancelling(old => {
            const next = new Set(old);
            next.delete(run.id);
            return next;
          })
        );
    },
    [replace, refresh]
  );

  const onOpen = useCallback((run: IRun) => openOutput(app, run.id), [app]);

  // The comparison shows each selected run as the list last saw it.
  const fresh = useMemo(() => new Map(pages.runs.map(run => [run.id, run])), [pages.runs]);
  const compared = [...selected.values()].map(run => fresh.get(run.id) ?? run);

  if (notebookPath === null) {
    return (
      <div className="jp-mlops-runs" data-testid="mlops-runs">
        <p className="jp-mlops-muted">Open a notebook to see its runs.</p>
      </div>
    );
  }

  return (
    <div className="jp-mlops-runs" data-testid="mlops-runs">
      <RunFilters functionNames={props.functionNames} value={filters} onChange={setFilters} />
      <div className="jp-mlops-runs-bar">
        <span className="jp-mlops-run-count" data-testid="mlops-run-count">
          {countText(pages.runs.length, pages.complete, pages.started, pages.error !== null)}
        </span>
        {pages.live && (
          <span className="jp-mlops-live" title="Runs in progress: updating every second">
            live
          </span>
        )}
        <span className="jp-mlops-spacer" />
        {selected.size > 0 && (
          <button
            type="button"
            className="jp-mlops-link-button"
            onClick={() => {
              setSelected(new Map());
              setComparing(false);
            }}
            title="Clear the selection"
          >
            {selected.size} selected ✕
          </button>
        )}
        <button
          type="button"
          className="jp-mlops-button"
          data-testid="mlops-compare-button"
          disabled={selected.size < 2}
          onClick={() => setComparing(true)}
          title={
            selected.size < 2
              ? 'Select two or more runs to compare'
              : `Compare ${selected.size} runs`
          }
        >
          Compare
        </button>
      </div>
      {pages.error !== null && (
        <div className="jp-mlops-error" role="alert">
          <span>{pages.error}</span>
          <button
            type="button"
            className="jp-mlops-link-button"
            onClick={refresh}
            title="Ask the server again"
          >
            retry
          </button>
        </div>
      )}
      {notice !== null && (
        <div className="jp-mlops-error" role="alert">
          <span>{notice}</span>
          <button
            type="button"
            className="jp-mlops-link-button"
            onClick={() => setNotice(null)}
            title="Dismiss"
          >
            ✕
          </button>
        </div>
      )}
      {comparing && compared.length >= 2 ? (
        <CompareView runs={compared} onClose={() => setComparing(false)} />
      ) : (
        <>
          <VirtualList
            items={pages.runs}
            rowHeight={RUN_ROW_HEIGHT}
            itemKey={run => run.id}
            resetKey={JSON.stringify(query)}
            onVisibleRange={onVisibleRange}
            className="jp-mlops-run-list"
            testId="mlops-run-list"
            ariaLabel="Runs of this notebook"
            renderItem={(run, index, style) => (
              <RunRow
                run={run}
                style={style}
                position={index}
                total={pages.complete ? pages.runs.length : -1}
                selected={selected.has(run.id)}
                cancelling={cancelling.has(run.id)}
                onToggle={onToggle}
                onCancel={onCancel}
                onOpen={onOpen}
              />
            )}
          />
          {pages.started && pages.runs.length === 0 && (
            <p className="jp-mlops-muted">No runs match these filters yet.</p>
          )}
          {pages.loading && pages.started && (
            <p className="jp-mlops-muted jp-mlops-loading">Loading {PAGE_SIZE} more…</p>
          )}
        </>
      )}
    </div>
  );
}
