/**
 * The runs the Runs section has loaded for one set of filters, kept fresh.
 *
 * Pages come from the server's keyset cursor (newest first), fetched as the user scrolls.
 * While any loaded run is queued or running the pager polls about once a second: it fetches
 * the first page again (new runs, and the changes of the newest ones) and re-reads, by id,
 * the active runs further down. When every loaded run is final it looks for new ones every
 * ten seconds instead (runs started from the CLI or a magic), and refreshes at once when told
 * the store changed.
 */
import { Signal } from '@lumino/signaling';

import { api, FINAL_STATUSES, IRun, IRunFilters, MLOpsAPIError, RunStatus } from '../api';
import { errorMessage } from './format';
import { compareKeys, runKey } from './runOrder';

export const PAGE_SIZE = 100;
const POLL_MS = 1000;
/** Slower while the server answers with errors, so a stopped server is not hammered. */
const POLL_AFTER_ERROR_MS = 5000;
/** With nothing active: how often to look for runs started elsewhere. */
const POLL_IDLE_MS = 10000;
/** Active runs below the first page re-read per poll, at most. */
const MAX_REREAD = 50;

/** Fires with the ids of runs this client saw reach a final status. */
export const runsFinished = new Signal<object, string[]>({});

export interface IRunQuery {
  notebook: string;
  function: string | null;
  status: RunStatus | null;
  sweep: string;
}

/** What the pager holds at one moment; a new object after every change. */
export interface IRunPagesState {
  runs: readonly IRun[];
  /** The first page has arrived. */
  started: boolean;
  /** The server said there is no page after the loaded ones. */
  complete: boolean;
  /** A page is being fetched. */
  loading: boolean;
  /** The last call's failure, cleared by the next success. */
  error: string | null;
  /** Some loaded run is queued or running, so the pager polls. */
  live: boolean;
}

/** No runs loaded yet, nothing in flight. */
export const EMPTY_PAGES: IRunPagesState = {
  runs: [],
  started: false,
  complete: false,
  loading: false,
  error: null,
  live: false
};

export function isActive(run: IRun): boolean {
  return !FINAL_STATUSES.has(run.status);
}

export class RunPager {
  constructor(
    private readonly query: IRunQuery,
    private readonly onChange: (state: IRunPagesState) => void
  ) {}

  get state(): IRunPagesState {
    return this._state;
  }

  /** Fetch the next page, unless one is on its way or there is none. */
  loadMore(): void {
    if (this.disposed || this.fetchingPage || (this._state.started && this.cursor === null)) {
      return;
    }
    const cursor = this.cursor;
    this.fetchingPage = true;
    this.update({ loading: true });
    api
      .listRuns(this.filters(cursor))
      .then(page => {
        // A refresh re-based the list meanwhile: this page continues an older one.
        if (this.disposed || this.cursor !== cursor) {
          return;
        }
        const known = new Set(this._state.runs.map(run => run.id));
        const added = page.runs.filter(run => !known.has(run.id));
        this.cursor = page.next_cursor;
        this.update({
          runs: [...this._state.runs, ...added],
          started: true,
          complete: page.next_cursor === null,
          error: null
        });
      })
      .catch(error => this.fail(error))
      .finally(() => {
        this.fetchingPage = false;
        if (this.disposed) {
          return;
        }
        this.update({ loading: false });
        if (this.again && !this.polling) {
          this.again = false;
          this.refresh();
        } else {
          this.schedule();
        }
      });
  }

  /** Poll now (the store changed): the first page and the active runs. */
  refresh(): void {
    if (this.disposed) {
      return;
    }
    if (!this._state.started) {
      // The first page is on its way but may predate the change: look again after it.
      if (this.fetchingPage) {
        this.again = true;
      } else {
        this.loadMore();
      }
      return;
    }
    if (this.polling) {
      this.again = true;
      return;
    }
    this.clearTimer();
    this.polling = true;
    this.poll()
      .catch(error => this.fail(error))
      .finally(() => {
        this.polling = false;
        if (this.disposed) {
          return;
        }
        if (this.again) {
          this.again = false;
          this.refresh();
        } else {
          this.schedule();
        }
      });
  }

  /** Put a run the panel got from another call (a cancel) in its place. */
  replace(run: IRun): void {
    this.setRuns(this._state.runs.map(old => (old.id === run.id ? run : old)));
  }

  dispose(): void {
    this.disposed = true;
    this.clearTimer();
  }

  private async poll(): Promise<void> {
    const page = await api.listRuns(this.filters(null));
    if (this.disposed) {
      return;
    }
    this.mergeFirstPage(page.runs, page.next_cursor);
    await this.rereadActive(new Set(page.runs.map(run => run.id)));
    this.update({ error: null });
  }

  /**
   * The first page is the true head of the list; loaded rows older than its last row keep
   * their place. A row inside the page's range but missing from it no longer matches the
   * filters and goes. When the page shares nothing with the loaded rows and more follow it,
   * runs may be missing in between: start over from this page.
   */
  private mergeFirstPage(head: IRun[], nextCursor: string | null): void {
    const loaded = this._state.runs;
    if (head.length === 0) {
      this.cursor = null;
      this.setRuns([], true);
      return;
    }
    const last = runKey(head[head.length - 1]);
    const older =
      nextCursor === null ? [] : loaded.filter(run => compareKeys(runKey(run), last) > 0);
    const gap =
      nextCursor !== null &&
      loaded.length > 0 &&
      compareKeys(runKey(loaded[0]), last) > 0 &&
      older.length === loaded.length;
    if (gap || older.length === 0) {
      this.cursor = nextCursor;
      this.setRuns(head, nextCursor === null);
      return;
    }
    this.setRuns([...head, ...older], this.cursor === null);
  }

  /** Re-read the queued and running rows the first page did not bring back. */
  private async rereadActive(inHead: Set<string>): Promise<void> {
    const stale = this._state.runs
      .filter(run => isActive(run) && !inHead.has(run.id))
      .slice(0, MAX_REREAD);
    if (stale.length === 0) {
      return;
    }
    const fresh = await Promise.all(
      stale.map(run =>
        api.getRun(run.id).catch(error => {
          if (error instanceof MLOpsAPIError && error.status === 404) {
            return null; // deleted meanwhile
          }
          throw error;
        })
      )
    );
    if (this.disposed) {
      return;
    }
    const byId = new Map(stale.map((run, index) => [run.id, fresh[index]]));
    const next: IRun[] = [];
    for (const run of this._state.runs) {
      const updated = byId.has(run.id) ? byId.get(run.id) : run;
      if (updated && (this.query.status === null || updated.status === this.query.status)) {
        next.push(updated);
      }
    }
    this.setRuns(next);
  }

  /** New rows: note the runs that just finished, then publish. */
  private setRuns(runs: IRun[], complete?: boolean): void {
    const before = new Map(this._state.runs.map(run => [run.id, run.status]));
    const finished = runs
      .filter(run => {
        const was = before.get(run.id);
        return !isActive(run) && was !== undefined && !FINAL_STATUSES.has(was);
      })
      .map(run => run.id);
    this.update({ runs, ...(complete === undefined ? {} : { complete }) });
    if (finished.length > 0) {
      runsFinished.emit(finished);
    }
  }

  private filters(cursor: string | null): IRunFilters {
    return {
      notebook: this.query.notebook,
      function: this.query.function ?? undefined,
      status: this.query.status ?? undefined,
      sweep: this.query.sweep.trim() || undefined,
      limit: PAGE_SIZE,
      cursor: cursor ?? undefined
    };
  }

  private fail(error: unknown): void {
    if (!this.disposed) {
      this.update({ error: errorMessage(error) });
    }
  }

  /** Poll again in a second while anything loaded is still active, else every ten. */
  private schedule(): void {
    this.clearTimer();
    const live = this._state.runs.some(isActive);
    this.update({ live });
    if (this.disposed || this.fetchingPage || this.polling) {
      return;
    }
    const delay = this._state.error !== null ? POLL_AFTER_ERROR_MS : live ? POLL_MS : POLL_IDLE_MS;
    this.timer = window.setTimeout(() => {
      this.timer = null;
      if (live || document.visibilityState === 'visible') {
        this.refresh();
      } else {
        this.schedule(); // a background browser tab: look again later
      }
    }, delay);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      window.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private update(change: Partial<IRunPagesState>): void {
    if (this.disposed) {
      return;
    }
    this._state = { ...this._state, ...change };
    this.onChange(this._state);
  }

  private _state: IRunPagesState = EMPTY_PAGES;
  private cursor: string | null = null;
  private fetchingPage = false;
  private polling = false;
  private again = false;
  private disposed = false;
  private timer: number | null = null;
}
