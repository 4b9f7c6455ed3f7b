/**
 * One open notebook as the extension sees it: its plan (parsed from the LIVE content, unsaved
 * edits included), the parameter values typed in the sidebar and their checks, and the
 * outcome of the last run or sweep started for each function.
 *
 * The sidebar and the cell badges render from this model; commands act through it, so a run
 * started from a cell button or the palette uses the same values the form shows.
 */
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import {
  api,
  ICellRole,
  IParameter,
  IParseResponse,
  IRun,
  ISweep,
  JSONValue,
  MLOpsAPIError
} from './api';
import { defaultText } from './parameterText';

/** What became of the last run or sweep the user started for a function (or the notebook). */
export interface IRunOutcome {
  state: 'starting' | 'queued' | 'failed';
  message: string;
  runId?: string;
  sweepId?: string;
  runCount?: number;
}

/** A parse failure, with the cell the server blamed (when it named one). */
export interface IParseProblem {
  message: string;
  cell: number | null;
  /** True when the notebook itself is at fault (a bad tag): the plan is then unknown. */
  invalid: boolean;
}

/** A cell's role, with whether the cell starts its function (it gets the Run button). */
export interface ICellBadge extends ICellRole {
  first: boolean;
}

/** The key of the whole-notebook run in `outcome()`. */
export const WHOLE_NOTEBOOK = '';

export interface ISweepOptions {
  function: string | null;
  space: { [name: string]: string[] };
  /** Values held fixed beyond the form's changed ones (a sweep field given one value). */
  fixed?: { [name: string]: string };
  parallel?: number;
  select?: string;
}

/** nbformat JSON of the notebook (what the shared model serializes to). */
type NotebookJSON = ReturnType<INotebookModel['sharedModel']['toJSON']>;

export class NotebookSession implements IDisposable {
  constructor(
    readonly panel: NotebookPanel,
    private _parseDelay: number
  ) {
    const { context } = panel;
    context.model.contentChanged.connect(this._scheduleParse, this);
    context.model.cells.changed.connect(this._watchCellMetadata, this);
    context.pathChanged.connect(this._scheduleParse, this);
    this._watchCellMetadata();
    void context.ready.then(() => {
      if (!this.isDisposed) {
        this._watchCellMetadata();
        void this.parseNow();
      }
    });
  }

  /** Emits whenever anything shown from this model changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /** The notebook's path relative to the server root, as the Contents API has it. */
  get path(): string {
    return this.panel.context.path;
  }

  get plan(): IParseResponse | null {
    return this._plan;
  }

  get problem(): IParseProblem | null {
    return this._problem;
  }

  get parsing(): boolean {
    return this._parseTimer !== null || this._parsing > 0;
  }

  set parseDelay(value: number) {
    this._parseDelay = value;
  }

  /**
   * Where this notebook's runs and sweeps execute: an executor's name, or null for the
   * project's default. Held here so the Run buttons, the palette and the sweep form agree.
   */
  get executor(): string | null {
    return this._executor;
  }

  set executor(name: string | null) {
    if (name !== this._executor) {
      this._executor = name;
      this._changed.emit();
    }
  }

  /**
   * Which sweep form the sidebar shows: a function's name, `null` for the whole notebook, or
   * `undefined` for none. Here rather than in the panel so the palette's sweep commands can
   * open it.
   */
  get sweepTarget(): string | null | undefined {
    return this._sweepTarget;
  }

  set sweepTarget(target: string | null | undefined) {
    if (target !== this._sweepTarget) {
      this._sweepTarget = target;
      this._changed.emit();
    }
  }

  /** The notebook as the editor holds it now, without outputs (see `liveContent`). */
  content(): JSONValue {
    return liveContent(this.panel.context.model.sharedModel.toJSON());
  }

  /** Parse right away (the refresh command; the first parse once the file is loaded). */
  async parseNow(): Promise<void> {
    if (this._parseTimer !== null) {
      clearTimeout(this._parseTimer);
      this._parseTimer = null;
    }
    const seq = ++this._parseSeq;
    this._parsing++;
    this._changed.emit();
    const shared = this.panel.context.model.sharedModel;
    const notebook = shared.toJSON();
    // From the shared model, not the JSON: nbformat 4.4 files carry no ids in their JSON.
    const cellIds = shared.cells.map(cell => cell.id);
    try {
      const plan = await api.parse({ path: this.path, content: liveContent(notebook) });
      if (seq === this._parseSeq && !this.isDisposed) {
        this._plan = plan;
        this._planCellIds = new Map(cellIds.map((id, index) => [id, index]));
        this._problem = null;
      }
    } catch (error) {
      if (seq === this._parseSeq && !this.isDisposed) {
        const invalid = error instanceof MLOpsAPIError && error.status === 400;
        const cell = error instanceof MLOpsAPIError ? (error.body.cell ?? null) : null;
        this._problem = {
          message: serverMissing(error)
            ? 'The jupyter_mlops server extension does not answer: install the jupyter-mlops ' +
              'package where the server runs, or enable it with ' +
              '`jupyter server extension enable jupyter_mlops`, then restart the server.'
            : withoutPlace((error as Error).message, this.path, cell),
          cell,
          invalid
        };
        if (invalid) {
          // The tags as they stand do not make a plan: showing the old one would mislead.
          this._plan = null;
          this._planCellIds = new Map();
        }
      }
    } finally {
      this._parsing--;
    }
    if (!this.isDisposed) {
      this._scheduleCheck();
      this._changed.emit();
    }
  }

  /** The role of the cell whose model id is `cellId`, from the last plan. */
  badgeFor(cellId: string): ICellBadge | null {
    const plan = this._plan;
    const index = this._planCellIds.get(cellId);
    if (plan === null || index === undefined || index >= plan.cells.length) {
      return null;
    }
    const role = plan.cells[index];
    if (role.role === 'none') {
      return null;
    }
    const fn =
      role.role === 'function' ? plan.functions.find(f => f.name === role.function) : undefined;
    return { ...role, first: fn !== undefined && fn.cells[0] === index };
  }

  /** The function the cell at `index` (in the live notebook) belongs to, if any. */
  functionAt(index: number): string | null {
    const cell = this.panel.context.model.cells.get(index);
    return cell ? (this.badgeFor(cell.id)?.function ?? null) : null;
  }

  // -- parameter values -------------------------------------------------------------------

  parameter(name: string): IParameter | undefined {
    return this._plan?.parameters.find(p => p.name === name);
  }

  /** The text the form shows for a parameter: what the user typed, else the default. */
  valueText(name: string): string {
    const typed = this._edits.get(name);
    if (typed !== undefined) {
      return typed;
    }
    const param = this.parameter(name);
    return param ? defaultText(param) : '';
  }

  setValue(name: string, text: string): void {
    this._edits.set(name, text);
    this._scheduleCheck();
    this._changed.emit();
  }

  /** The values that differ from the defaults, as text; of `names` only, when given. */
  changedValues(names?: readonly string[]): { [name: string]: string } {
    const changed: { [name: string]: string } = {};
    for (const param of this._plan?.parameters ?? []) {
      if (names !== undefined && !names.includes(param.name)) {
        continue;
      }
      const typed = this._edits.get(param.name);
      if (typed !== undefined && typed !== defaultText(param)) {
        changed[param.name] = typed;
      }
    }
    return changed;
  }

  /** The server's objection to a parameter's value, after the last check. */
  valueError(name: string): string | null {
    return this._errors.get(name) ?? null;
  }

  /** Whether any of `names` (every parameter, when omitted) has a wrong value. */
  hasValueErrors(names?: readonly string[]): boolean {
    if (names === undefined) {
      return this._errors.size > 0;
    }
    return names.some(name => this._errors.has(name));
  }

  // -- runs and sweeps ----------------------------------------------------------------------

  outcome(fn: string | null): IRunOutcome | null {
    return this._outcomes.get(fn ?? WHOLE_NOTEBOOK) ?? null;
  }

  /** Starts a run of `fn` (null: the whole notebook) with the values the form holds. */
  async run(fn: string | null): Promise<IRun> {
    const names = fn === null ? undefined : this._functionParameters(fn);
    this._setOutcome(fn, { state: 'starting', message: 'Starting…' });
    try {
      const run = await api.startRun({
        path: this.path,
        content: this.content(),
        function: fn ?? undefined,
        parameters: this.changedValues(names),
        executor: this._executor ?? undefined
      });
      this._setOutcome(fn, {
        state: 'queued',
        message: `Queued run ${run.id.slice(0, 8)}`,
        runId: run.id
      });
      return run;
    } catch (error) {
      this._setOutcome(fn, { state: 'failed', message: (error as Error).message });
      throw error;
    }
  }

  /** Starts a sweep: `space` values vary, the form's other changed values stay fixed. */
  async sweep(options: ISweepOptions): Promise<ISweep> {
    const key = options.function;
    const names = key === null ? undefined : this._functionParameters(key);
    const fixed = { ...this.changedValues(names), ...options.fixed };
    for (const name of Object.keys(options.space)) {
      delete fixed[name];
    }
    this._setOutcome(key, { state: 'starting', message: 'Starting the sweep…' });
    try {
      const sweep = await api.startSweep({
        path: this.path,
        content: this.content(),
        function: options.function ?? undefined,
        space: options.space,
        fixed,
        parallel: options.parallel,
        select: options.select,
        executor: this._executor ?? undefined
      });
      const count = sweep.runs.length;
      this._setOutcome(key, {
        state: 'queued',
        message: `Sweep ${sweep.id.slice(0, 8)}: ${count} run${count === 1 ? '' : 's'} queued`,
        sweepId: sweep.id,
        runCount: count
      });
      return sweep;
    } catch (error) {
      this._setOutcome(key, { state: 'failed', message: (error as Error).message });
      throw error;
    }
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    for (const timer of [this._parseTimer, this._checkTimer]) {
      if (timer !== null) {
        clearTimeout(timer);
      }
    }
    Signal.clearData(this);
  }

  // -- private ------------------------------------------------------------------------------

  private _sweepTarget: string | null | undefined = undefined;
  private _executor: string | null = null;

  private _functionParameters(fn: string): string[] {
    return this._plan?.functions.find(f => f.name === fn)?.parameters ?? [];
  }

  private _setOutcome(fn: string | null, outcome: IRunOutcome): void {
    this._outcomes.set(fn ?? WHOLE_NOTEBOOK, outcome);
    this._changed.emit();
  }

  /** Tag edits change a cell's metadata, which the notebook's contentChanged does not report. */
  private _watchCellMetadata(): void {
    const { cells } = this.panel.context.model;
    for (let i = 0; i < cells.length; i++) {
      // Lumino ignores a connection that already exists, so this is safe to repeat.
      cells.get(i).metadataChanged.connect(this._scheduleParse, this);
    }
  }

  private _scheduleParse(): void {
    if (!this.panel.context.isReady) {
      return; // loading the file changes the content; the parse on `ready` covers it
    }
    if (this._parseTimer !== null) {
      clearTimeout(this._parseTimer);
    }
    const first = this._parseTimer === null;
    this._parseTimer = setTimeout(() => {
      this._parseTimer = null;
      void this.parseNow();
    }, this._parseDelay);
    if (first) {
      this._changed.emit();
    }
  }

  private _scheduleCheck(): void {
    if (this._checkTimer !== null) {
      clearTimeout(this._checkTimer);
    }
    this._checkTimer = setTimeout(() => {
      this._checkTimer = null;
      void this._checkValues();
    }, this._parseDelay);
  }

  /**
   * Asks the server to type the changed values. It reports one wrong value at a time, so a
   * value it names is set aside and the rest checked again, until all are known.
   */
  private async _checkValues(): Promise<void> {
    const seq = ++this._checkSeq;
    const remaining = this.changedValues();
    const errors = new Map<string, string>();
    const content = Object.keys(remaining).length > 0 ? this.content() : null;
    while (content !== null && Object.keys(remaining).length > 0) {
      try {
        await api.check({ path: this.path, content, parameters: remaining });
        break;
      } catch (error) {
        const name = error instanceof MLOpsAPIError ? error.body.parameter : null;
        if (typeof name !== 'string' || !(name in remaining)) {
          break; // not about one value (the notebook, the network): the parse shows it
        }
        errors.set(name, valueProblem(name, (error as Error).message));
        delete remaining[name];
      }
    }
    if (seq === this._checkSeq && !this.isDisposed) {
      this._errors = errors;
      this._changed.emit();
    }
  }

  private _changed = new Signal<this, void>(this);
  private _isDisposed = false;
  private _plan: IParseResponse | null = null;
  /** Cell id -> index in the content the plan was parsed from (its `cells` indices). */
  private _planCellIds = new Map<string, number>();
  private _problem: IParseProblem | null = null;
  private _parseTimer: ReturnType<typeof setTimeout> | null = null;
  private _parseSeq = 0;
  private _parsing = 0;
  private _checkTimer: ReturnType<typeof setTimeout> | null = null;
  private _checkSeq = 0;
  private _edits = new Map<string, string>();
  private _errors = new Map<string, string>();
  private _outcomes = new Map<string, IRunOutcome>();
}

/**
 * The notebook without its outputs. Neither parsing nor a run reads them (papermill executes
 * the sources afresh), and a notebook full of plots would otherwise be posted on every edit.
 */
function liveContent(notebook: NotebookJSON): JSONValue {
  const cells = notebook.cells.map(cell =>
    cell.cell_type === 'code' ? { ...cell, outputs: [], execution_count: null } : cell
  );
  // nbformat's types are JSON with optional members; the object is plain JSON all the same.
  return { ...notebook, cells } as unknown as JSONValue;
}

/** "nb.ipynb: parameter 'C': expected float, got 'x'" -> "expected float, got 'x'" (shown under C). */
function valueProblem(name: string, message: string): string {
  const marker = `parameter '${name}': `;
  const at = message.indexOf(marker);
  return at < 0 ? message : message.slice(at + marker.length);
}

/**
 * "nb.ipynb, cell 8: unknown tag …" -> "unknown tag …": the sidebar names the cell with a
 * link of its own, and the notebook is the one shown.
 */
function withoutPlace(message: string, path: string, cell: number | null): string {
  const name = path.split('/').pop() ?? path;
  for (const where of [path, name]) {
    const prefix = cell === null ? `${where}: ` : `${where}, cell ${cell}: `;
    if (message.startsWith(prefix)) {
      return message.slice(prefix.length);
    }
  }
  return message;
}

/** A 404 with no JSON body of ours: the route does not exist, so neither does the extension. */
function serverMissing(error: unknown): boolean {
  return error instanceof MLOpsAPIError && error.status === 404 && error.body.reason === undefined;
}
