/**
 * In the notebook: a badge on each cell saying what role the plan gives it ("function
 * train", "setup", "skip", …) and "Run this function" and "Deploy this cell" buttons on the
 * first cell of each function, with what became of the last run or deploy started. They live
 * in the cell's header and follow the plan as tags change.
 */
import { Cell } from '@jupyterlab/cells';
import { CommandRegistry } from '@lumino/commands';
import { IDisposable } from '@lumino/disposable';
import { PanelLayout, Widget } from '@lumino/widgets';

import { CommandIDs } from './commandIds';
import { DeploymentsModel, IDeployOutcome } from './deployments';
import { ICellBadge, NotebookSession } from './session';

const HEADER_CLASS = 'jp-mlops-cell-header';
const TAGGED_CLASS = 'jp-mlops-tagged';

export class CellBadges implements IDisposable {
  constructor(
    private readonly _session: NotebookSession,
    private readonly _commands: CommandRegistry,
    private readonly _deployments: DeploymentsModel,
    private _enabled: boolean
  ) {
    _session.changed.connect(this._render, this);
    _deployments.changed.connect(this._render, this);
    _session.panel.content.model?.cells.changed.connect(this._render, this);
    this._render();
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  set enabled(value: boolean) {
    this._enabled = value;
    this._render();
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._session.changed.disconnect(this._render, this);
    this._deployments.changed.disconnect(this._render, this);
    this._session.panel.content.model?.cells.changed.disconnect(this._render, this);
    for (const cell of this._session.panel.content.widgets) {
      this._apply(cell, null);
    }
  }

  private _render(): void {
    if (this._isDisposed || this._session.isDisposed) {
      return;
    }
    for (const cell of this._session.panel.content.widgets) {
      if (cell.isPlaceholder()) {
        // A cell outside the viewport has no header until it is first drawn.
        if (!this._waiting.has(cell)) {
          this._waiting.add(cell);
          void cell.ready.then(() => {
            this._waiting.delete(cell);
            this._applyCurrent(cell);
          });
        }
        continue;
      }
      this._applyCurrent(cell);
    }
  }

  private _applyCurrent(cell: Cell): void {
    if (!this._isDisposed && !this._session.isDisposed && !cell.isDisposed) {
      this._apply(cell, this._enabled ? this._session.badgeFor(cell.model.id) : null);
    }
  }

  private _apply(cell: Cell, badge: ICellBadge | null): void {
    const header = cellHeader(cell);
    if (header === null || cell.isDisposed) {
      return;
    }
    const existing = header.node.querySelector<HTMLElement>(`.${HEADER_CLASS}`);
    const outcome = badge?.first ? this._session.outcome(badge.function) : null;
    const deployed =
      badge?.first && badge.function !== null
        ? this._deployments.outcome(this._session.path, badge.function)
        : null;
    const key =
      badge === null
        ? ''
        : JSON.stringify([badge, outcome?.message ?? '', deployed?.state, deployed?.message]);
    if ((existing?.dataset.key ?? '') === key) {
      return;
    }
    existing?.remove();
    cell.toggleClass(TAGGED_CLASS, badge !== null);
    if (badge === null) {
      return;
    }
    const row = document.createElement('div');
    row.className = HEADER_CLASS;
    row.dataset.key = key;
    row.appendChild(roleBadge(badge));
    if (badge.first && badge.function !== null) {
      row.appendChild(this._runButton(badge.function));
      row.appendChild(this._deployButton(badge.function, deployed));
      if (outcome !== null) {
        row.appendChild(outcomeText(outcome.state, outcome.message, 'mlops-cell-run-outcome'));
      }
      if (deployed !== null) {
        row.appendChild(outcomeText(deployed.state, deployed.message, 'mlops-cell-deploy-outcome'));
      }
    }
    header.node.appendChild(row);
  }

  private _runButton(fn: string): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-mlops-cell-run';
    button.dataset.testid = 'mlops-cell-run';
    button.dataset.function = fn;
    button.textContent = '▶ Run this function';
    button.title = `Run ${fn} as a tracked run, with the values of the MLOps sidebar`;
    button.addEventListener('click', event => {
      event.stopPropagation();
      void this._commands.execute(CommandIDs.runFunction, {
        function: fn,
        path: this._session.path
      });
    });
    return button;
  }

  private _deployButton(fn: string, deployed: IDeployOutcome | null): HTMLButtonElement {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'jp-mlops-cell-run jp-mlops-cell-deploy';
    button.dataset.testid = 'mlops-cell-deploy';
    button.dataset.function = fn;
    const deploying = deployed?.state === 'deploying';
    button.disabled = deploying;
    button.textContent = deploying ? 'Deploying…' : '⇪ Deploy this cell';
    button.title =
      `Serve ${fn} as an HTTP endpoint (the notebook as edited now; ` +
      'its upstream inputs from their last succeeded run)';
    button.addEventListener('click', event => {
      event.stopPropagation();
      void this._commands.execute(CommandIDs.deployFunction, {
        function: fn,
        path: this._session.path
      });
    });
    return button;
  }

  private _isDisposed = false;
  private _waiting = new WeakSet<Cell>();
}

/** What became of a run or deploy, after the buttons. */
function outcomeText(state: string, message: string, testId: string): HTMLElement {
  const status = document.createElement('span');
  status.className = `jp-mlops-cell-outcome jp-mod-${state}`;
  status.dataset.testid = testId;
  status.dataset.state = state;
  status.textContent = message;
  status.title = message;
  return status;
}

/** The badge itself: `.jp-mlops-cell-role` with the role and function as data attributes. */
function roleBadge(badge: ICellBadge): HTMLElement {
  const element = document.createElement('span');
  element.className = `jp-mlops-cell-role jp-mod-${badge.role}`;
  element.dataset.role = badge.role;
  element.dataset.function = badge.function ?? '';
  element.textContent = badge.role === 'function' ? `function ${badge.function}` : badge.role;
  element.title = describe(badge);
  if (badge.role === 'function' && !badge.first) {
    element.classList.add('jp-mod-continued');
  }
  return element;
}

function describe(badge: ICellBadge): string {
  switch (badge.role) {
    case 'function':
      return badge.first
        ? `Starts function ${badge.function}`
        : `Continues function ${badge.function} (untagged cells join the function above)`;
    case 'metrics':
      return badge.function
        ? `Metrics of ${badge.function}: numbers assigned here are recorded with its runs`
        : 'Metrics: numbers assigned here are recorded with the run';
    case 'parameters':
      return 'Parameters: typed defaults, set per run';
    case 'setup':
      return 'Setup: imports and helpers every function gets';
    case 'skip':
      return 'Skipped: exploration, never part of a function';
    default:
      return badge.role;
  }
}

/** The cell's header widget (the first child of every cell's layout in JupyterLab 4). */
function cellHeader(cell: Cell): Widget | null {
  const layout = cell.layout;
  if (!(layout instanceof PanelLayout)) {
    return null;
  }
  return layout.widgets.find(widget => widget.hasClass('jp-Cell-header')) ?? null;
}
