/**
 * Follows the open notebooks: one NotebookSession per notebook panel, created when the
 * panel opens and disposed with it, and which of them is the active one.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { NotebookSession } from './session';

export class SessionTracker implements IDisposable {
  constructor(
    readonly notebooks: INotebookTracker,
    private _parseDelay: number
  ) {
    notebooks.forEach(panel => this._add(panel));
    notebooks.widgetAdded.connect((_, panel) => this._add(panel), this);
    notebooks.currentChanged.connect(() => this._currentChanged.emit(this.current), this);
  }

  /** The session of the active notebook (the last one focused), or null when none is open. */
  get current(): NotebookSession | null {
    const panel = this.notebooks.currentWidget;
    return panel ? this.sessionFor(panel) : null;
  }

  get currentChanged(): ISignal<this, NotebookSession | null> {
    return this._currentChanged;
  }

  /** Emits each new session, so per-notebook decorations can attach to it. */
  get sessionAdded(): ISignal<this, NotebookSession> {
    return this._sessionAdded;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  sessionFor(panel: NotebookPanel): NotebookSession {
    return this._sessions.get(panel) ?? this._add(panel);
  }

  /** The session whose notebook holds `path`, if it is open. */
  findByPath(path: string): NotebookSession | null {
    for (const session of this._sessions.values()) {
      if (session.path === path) {
        return session;
      }
    }
    return null;
  }

  set parseDelay(value: number) {
    this._parseDelay = value;
    for (const session of this._sessions.values()) {
      session.parseDelay = value;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const session of this._sessions.values()) {
      session.dispose();
    }
    this._sessions.clear();
    Signal.clearData(this);
  }

  private _add(panel: NotebookPanel): NotebookSession {
    const existing = this._sessions.get(panel);
    if (existing) {
      return existing;
    }
    const session = new NotebookSession(panel, this._parseDelay);
    this._sessions.set(panel, session);
    panel.disposed.connect(() => {
      this._sessions.delete(panel);
      session.dispose();
    });
    this._sessionAdded.emit(session);
    return session;
  }

  private _isDisposed = false;
  private _sessions = new Map<NotebookPanel, NotebookSession>();
  private _currentChanged = new Signal<this, NotebookSession | null>(this);
  private _sessionAdded = new Signal<this, NotebookSession>(this);
}
