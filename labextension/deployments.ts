/**
 * The deployments as this page knows them: the server's list (polled while a view watches
 * it), which one the sidebar shows, the tokens this page was given, and what became of the
 * deploys started here.
 *
 * One model for the whole page: the cell buttons and the palette deploy through it, and the
 * sidebar's Deployments section renders from it, so a deploy started from a cell opens the
 * sidebar on that deployment with its token.
 */
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { storeChanged } from './api';
import { errorMessage } from './components/format';
import { deployApi, IDeployment, IDeployResponse } from './deployApi';
import { pollDelay } from './deployStatus';
import { NotebookSession } from './session';

/** What became of the last deploy of a function started from this page. */
export interface IDeployOutcome {
  state: 'deploying' | 'deployed' | 'failed';
  message: string;
  notebook: string;
  function: string;
  /** The deployment's name, once the server answered. */
  name?: string;
}

export type DeploymentAction = 'stop' | 'start' | 'rollback';

export class DeploymentsModel implements IDisposable {
  constructor() {
    storeChanged.connect(this._onStoreChanged, this);
  }

  /** Emits whenever anything shown from this model changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Emits after each answer of the list: the selected deployment's details follow it. */
  get polled(): ISignal<this, void> {
    return this._polled;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  get deployments(): readonly IDeployment[] {
    return this._deployments;
  }

  /** The list has been fetched once. */
  get loaded(): boolean {
    return this._loaded;
  }

  /** Why the last fetch of the list failed; null after a success. */
  get error(): string | null {
    return this._error;
  }

  /** Which deployment the sidebar shows in detail. */
  get selected(): string | null {
    return this._selected;
  }

  select(name: string | null): void {
    if (name !== this._selected) {
      this._selected = name;
      this._changed.emit();
    }
  }

  /** Grows each time a deploy asks the sidebar to show its deployment. */
  get revealCount(): number {
    return this._revealCount;
  }

  /** The last deploy started from this page, for the Deployments section to report. */
  get latest(): IDeployOutcome | null {
    return this._latest;
  }

  dismissLatest(): void {
    this._latest = null;
    this._changed.emit();
  }

  /** The deployment's token, if this page was given it or the user typed it. */
  token(name: string): string | null {
    return this._tokens.get(name) ?? null;
  }

  /** A token the user typed: kept for this page, so the form keeps it. */
  rememberToken(name: string, token: string): void {
    if (token === '') {
      this._tokens.delete(name);
    } else {
      this._tokens.set(name, token);
    }
    this._changed.emit();
  }

  /** A token the server just created: shown once, until the user dismisses it. */
  freshToken(name: string): string | null {
    return this._fresh.has(name) ? this.token(name) : null;
  }

  dismissToken(name: string): void {
    this._fresh.delete(name);
    this._changed.emit();
  }

  outcome(notebook: string, fn: string): IDeployOutcome | null {
    return this._outcomes.get(outcomeKey(notebook, fn)) ?? null;
  }

  /** Poll the list while the returned handle is not disposed (a view shows it). */
  watch(): IDisposable {
    this._watchers++;
    this.refresh();
    let done = false;
    return {
      get isDisposed() {
        return done;
      },
      dispose: () => {
        if (!done) {
          done = true;
          this._watchers--;
          if (this._watchers === 0) {
            this._clearTimer();
          }
        }
      }
    };
  }

  /** Fetch the list now (and the details of the selected one after it). */
  refresh(): void {
    if (this._isDisposed) {
      return;
    }
    if (this._fetching) {
      this._again = true;
      return;
    }
    this._clearTimer();
    this._fetching = true;
    deployApi
      .list()
      .then(deployments => {
        this._deployments = deployments;
        this._loaded = true;
        this._error = null;
      })
      .catch(error => {
        this._error = errorMessage(error);
      })
      .finally(() => {
        this._fetching = false;
        if (this._isDisposed) {
          return;
        }
        this._changed.emit();
        this._polled.emit();
        if (this._again) {
          this._again = false;
          this.refresh();
        } else {
          this._schedule();
        }
      });
  }

  /** Put a deployment another call returned in its place (or first, when it is new). */
  replace(deployment: IDeployment): void {
    const at = this._deployments.findIndex(old => old.name === deployment.name);
    this._deployments =
      at < 0
        ? [deployment, ...this._deployments]
        : this._deployments.map(old => (old.name === deployment.name ? deployment : old));
    this._changed.emit();
  }

  /**
   * Deploys `fn` from the notebook as the editor holds it. The server answers once the new
   * version serves; the deployment is then selected and, if the token is new, kept to show.
   */
  async deploy(session: NotebookSession, fn: string): Promise<IDeployResponse> {
    const notebook = session.path;
    this._setOutcome({ state: 'deploying', message: 'Deploying…', notebook, function: fn });
    this._busy++;
    this.refresh(); // the row may appear while starting: poll fast meanwhile
    try {
      const answer = await deployApi.deploy({
        path: notebook,
        function: fn,
        content: session.content()
      });
      const { deployment, token } = answer;
      if (token !== null) {
        this._tokens.set(deployment.name, token);
        this._fresh.add(deployment.name);
      }
      this.replace(deployment);
      this._selected = deployment.name;
      this._revealCount++;
      this._setOutcome({
        state: 'deployed',
        message: `Deployed ${deployment.name} at ${deployment.url}`,
        notebook,
        function: fn,
        name: deployment.name
      });
      return answer;
    } catch (error) {
      this._setOutcome({
        state: 'failed',
        message: `Could not deploy ${fn}: ${errorMessage(error)}`,
        notebook,
        function: fn
      });
      throw error;
    } finally {
      this._busy--;
      this.refresh();
    }
  }

  /** Stop, start, or roll back (to the version starting with `to`) one deployment. */
  async act(name: string, action: DeploymentAction, to?: string): Promise<IDeployment> {
    this._busy++;
    try {
      const deployment =
        action === 'stop'
          ? await deployApi.stop(name)
          : action === 'start'
            ? await deployApi.start(name)
            : await deployApi.rollback(name, to);
      this.replace(deployment);
      return deployment;
    } finally {
      this._busy--;
      this.refresh();
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._clearTimer();
    storeChanged.disconnect(this._onStoreChanged, this);
    Signal.clearData(this);
  }

  // -- private ------------------------------------------------------------------------------

  private _onStoreChanged(_: object, what: string): void {
    if ((what === 'refresh' || what === 'deployments') && this._watchers > 0) {
      this.refresh();
    }
  }

  private _setOutcome(outcome: IDeployOutcome): void {
    this._outcomes.set(outcomeKey(outcome.notebook, outcome.function), outcome);
    this._latest = outcome;
    this._changed.emit();
  }

  private _schedule(): void {
    this._clearTimer();
    if (this._isDisposed || this._watchers === 0) {
      return;
    }
    const delay = pollDelay({
      statuses: this._deployments.map(deployment => deployment.status),
      busy: this._busy > 0,
      failed: this._error !== null
    });
    this._timer = window.setTimeout(() => {
      this._timer = null;
      if (this._busy > 0 || document.visibilityState === 'visible') {
        this.refresh();
      } else {
        this._schedule(); // a background browser tab: look again later
      }
    }, delay);
  }

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _changed = new Signal<this, void>(this);
  private _polled = new Signal<this, void>(this);
  private _isDisposed = false;
  private _deployments: readonly IDeployment[] = [];
  private _loaded = false;
  private _error: string | null = null;
  private _selected: string | null = null;
  private _revealCount = 0;
  private _latest: IDeployOutcome | null = null;
  private _tokens = new Map<string, string>();
  private _fresh = new Set<string>();
  private _outcomes = new Map<string, IDeployOutcome>();
  private _watchers = 0;
  private _busy = 0;
  private _fetching = false;
  private _again = false;
  private _timer: number | null = null;
}

function outcomeKey(notebook: string, fn: string): string {
  return `${notebook}\n${fn}`;
}
