/**
 * The REST client: typed calls to the jupyter_mlops server extension under /mlops/api/.
 *
 * Every request goes through ServerConnection.makeRequest, which adds the token and the
 * XSRF header. Errors come back as MLOpsAPIError with the server's message (and the
 * parameter or cell it names), so the sidebar can show them next to the field at fault.
 * The routes and shapes are documented in docs/openapi.yaml.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';

/** A JSON value as the server sends it. */
export type JSONValue =
  string | number | boolean | null | JSONValue[] | { [key: string]: JSONValue };

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>([
  'succeeded',
  'failed',
  'cancelled',
  'interrupted'
]);

/** A declared parameter of the notebook: `alpha: float = 0.5  # help`. */
export interface IParameter {
  name: string;
  /** Canonical annotation text: int, float, str, bool, list[int], Literal['a', 'b'], … */
  type: string;
  default: JSONValue;
  help: string;
}

/** One function of the notebook, as the parser found it. */
export interface IFunctionInfo {
  name: string;
  identifier: string;
  /** Indices of its cells in the notebook. */
  cells: number[];
  inputs: string[];
  outputs: string[];
  /** input name -> the function that produces it, or "parameters". */
  sources: { [input: string]: string };
  /** The notebook parameters this function reads. */
  parameters: string[];
  after: string[];
  options: { [key: string]: JSONValue };
  metrics: string[];
  version: string;
}

export type CellRoleName = 'parameters' | 'setup' | 'function' | 'metrics' | 'skip' | 'none';

/** What one cell of the notebook is, for the badge shown on it. */
export interface ICellRole {
  index: number;
  role: CellRoleName;
  /** The function the cell belongs to (role 'function' or 'metrics'), else null. */
  function: string | null;
}

export interface IPlanWarning {
  cell: number | null;
  message: string;
}

/** POST /mlops/api/parse */
export interface IParseResponse {
  notebook: string;
  parameters: IParameter[];
  functions: IFunctionInfo[];
  edges: { source: string; target: string; names: string[] }[];
  metrics: { name: string; function: string; cell: number }[];
  warnings: IPlanWarning[];
  /** One entry per cell of the posted notebook, in order. */
  cells: ICellRole[];
}

export interface IArtifact {
  id: string;
  run_id: string;
  name: string;
  kind: string;
  sha256: string;
  size: number;
  created_at: string;
}

export interface IRunError {
  cell: number | null;
  ename: string;
  evalue: string;
}

export interface IRun {
  id: string;
  notebook: string;
  function: string | null;
  version: string | null;
  parameters: { [name: string]: JSONValue };
  status: RunStatus;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  /** Seconds, once the run has ended. */
  duration: number | null;
  metrics: { [name: string]: number };
  artifacts: IArtifact[];
  /** Artifact id of the output notebook, once there is one. */
  output_notebook: string | null;
  error: IRunError | null;
  executor: string;
  sweep_id: string | null;
  parent_id: string | null;
  host: string | null;
  pid: number | null;
  idempotency_key: string | null;
  inputs: { [name: string]: JSONValue };
  /** The Dask worker that executed the run (executor dask). */
  worker?: string | null;
  /** The run's id and page on another system (a Kubeflow Pipelines run). */
  external_id?: string | null;
  external_url?: string | null;
  /** Who asked for the run. */
  actor?: string | null;
}

export interface IRunPage {
  runs: IRun[];
  /** Pass back as `cursor` for the next page; null when there is no more. */
  next_cursor: string | null;
}

export interface IRunFilters {
  notebook?: string;
  function?: string;
  status?: RunStatus;
  sweep?: string;
  /** created_at (default) or metric:NAME */
  order_by?: string;
  /** desc (default: newest or highest first) or asc */
  order?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
}

/** What to run: the notebook by path, with its live (possibly unsaved) content. */
export interface INotebookRef {
  /** Path relative to the server root, as in the Contents API. */
  path: string;
  /** nbformat JSON of the notebook as the editor holds it; omitted: the saved file. */
  content?: JSONValue;
}

export interface IRunRequest extends INotebookRef {
  /** One function; omitted: the whole notebook. */
  function?: string;
  /** Parameter values as text, parsed like the CLI's `-p NAME VALUE`. */
  parameters?: { [name: string]: string };
  from_run?: string;
  idempotency_key?: string;
  /** Seconds for the whole run. */
  timeout?: number;
  /** Where it runs: a registered executor's name (GET executors); omitted: the default. */
  executor?: string;
}

export interface ISweepRequest extends INotebookRef {
  function?: string;
  /** name -> candidate values, each as text. */
  space: { [name: string]: string[] };
  /** Values held fixed, as text. */
  fixed?: { [name: string]: string };
  strategy?: 'grid' | 'list' | 'random';
  max_runs?: number;
  seed?: number;
  parallel?: number;
  /** max:METRIC or min:METRIC */
  select?: string;
  fail_fast?: boolean;
  executor?: string;
}

/** One place runs can execute: local processes, a Dask cluster, ... */
export interface IExecutorInfo {
  name: string;
  description: string;
  /** False when its extra is not installed; `reason` says what to install. */
  available: boolean;
  reason: string | null;
  /** The cluster's dashboard, when one is running or configured. */
  dashboard_url: string | null;
}

export interface IExecutorList {
  /** The project's configured executor. */
  default: string;
  executors: IExecutorInfo[];
}

export interface ISweep {
  id: string;
  notebook: string;
  function: string | null;
  strategy: string;
  space: { [name: string]: JSONValue[] };
  select: string | null;
  status: string;
  best_run_id: string | null;
  created_at: string;
  ended_at: string | null;
  /** Run ids of the sweep, in point order. */
  runs: string[];
}

export interface IVersion {
  function: string;
  version: string;
  notebook: string;
  code: string;
  created_at: string;
  aliases: string[];
  run_count: number;
}

export interface IAliasMove {
  function: string;
  alias: string;
  version: string;
  previous: string | null;
  moved_at: string;
  /** Who moved it. */
  actor?: string | null;
}

export interface IVersionList {
  versions: IVersion[];
  history: IAliasMove[];
}

export interface IVersionDiff {
  function: string;
  a: string;
  b: string;
  /** A unified diff of the two versions' code ('' when equal). */
  diff: string;
}

export interface ICheckResponse {
  /** The checked values (defaults filled in), as JSON. */
  parameters: { [name: string]: JSONValue };
}

/** The server's error body: a message, and the field at fault when there is one. */
export interface IErrorBody {
  message: string;
  reason?: string;
  parameter?: string | null;
  cell?: number | null;
  notebook?: string | null;
}

export class MLOpsAPIError extends Error {
  constructor(
    readonly status: number,
    readonly body: IErrorBody
  ) {
    super(body.message);
    this.name = 'MLOpsAPIError';
  }
}

/** Fires after this client started, cancelled or changed something, so lists refresh now. */
export const storeChanged = new Signal<object, string>({});

const API = 'mlops/api';

/** A typed call to /mlops/api/<endpoint>; `body` is sent as JSON. */
export async function requestAPI<T>(
  endpoint: string,
  init: { method?: string; body?: unknown; query?: { [key: string]: unknown } } = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  let url = URLExt.join(settings.baseUrl, API, endpoint);
  const query = Object.entries(init.query ?? {}).filter(
    ([, value]) => value !== undefined && value !== null && value !== ''
  );
  if (query.length > 0) {
    url += URLExt.objectToQueryString(Object.fromEntries(query.map(([k, v]) => [k, String(v)])));
  }
  // Not 'no-store' (ServerConnection's default): for that it appends a bare `?<timestamp>`
  // argument, which the server's strict query check refuses. 'no-cache' still revalidates.
  const request: RequestInit = { method: init.method ?? 'GET', cache: 'no-cache' };
  if (init.body !== undefined) {
    request.body = JSON.stringify(init.body);
    request.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, request, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const text = await response.text();
  let data: unknown = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const body =
      typeof data === 'object' && data !== null && 'message' in data
        ? (data as IErrorBody)
        : { message: `${response.status} ${response.statusText}` };
    throw new MLOpsAPIError(response.status, body);
  }
  return data as T;
}

const seg = encodeURIComponent;

/** The calls the sidebar makes, one per route. */
export const api = {
  parse: (ref: INotebookRef): Promise<IParseResponse> =>
    requestAPI('parse', { method: 'POST', body: ref }),
  check: (
    ref: INotebookRef & { function?: string; parameters: { [name: string]: string } }
  ): Promise<ICheckResponse> => requestAPI('check', { method: 'POST', body: ref }),
  listRuns: (filters: IRunFilters = {}): Promise<IRunPage> =>
    requestAPI('runs', { query: { ...filters } }),
  getRun: (id: string): Promise<IRun> => requestAPI(`runs/${seg(id)}`),
  startRun: async (request: IRunRequest): Promise<IRun> => {
    const run = await requestAPI<IRun>('runs', { method: 'POST', body: request });
    storeChanged.emit('runs');
    return run;
  },
  cancelRun: async (id: string): Promise<IRun> => {
    const run = await requestAPI<IRun>(`runs/${seg(id)}/cancel`, { method: 'POST' });
    storeChanged.emit('runs');
    return run;
  },
  /** URL of the run's output notebook: format 'html' (rendered) or 'ipynb'. */
  outputURL: (id: string, format: 'html' | 'ipynb' = 'html'): string =>
    URLExt.join(ServerConnection.makeSettings().baseUrl, API, 'runs', seg(id), 'notebook') +
    URLExt.objectToQueryString({ format }),
  outputNotebook: (id: string): Promise<JSONValue> =>
    requestAPI(`runs/${seg(id)}/notebook`, { query: { format: 'ipynb' } }),
  artifactURL: (id: string): string =>
    URLExt.join(ServerConnection.makeSettings().baseUrl, API, 'artifacts', seg(id)),
  executors: (): Promise<IExecutorList> => requestAPI('executors'),
  startSweep: async (request: ISweepRequest): Promise<ISweep> => {
    const sweep = await requestAPI<ISweep>('sweeps', { method: 'POST', body: request });
    storeChanged.emit('runs');
    return sweep;
  },
  getSweep: (id: string): Promise<ISweep> => requestAPI(`sweeps/${seg(id)}`),
  versions: (fn: string): Promise<IVersionList> => requestAPI(`functions/${seg(fn)}/versions`),
  diff: (fn: string, a: string, b: string): Promise<IVersionDiff> =>
    requestAPI(`functions/${seg(fn)}/diff`, { query: { a, b } }),
  setAlias: async (fn: string, alias: string, version: string): Promise<IVersion> => {
    const moved = await requestAPI<IVersion>(`functions/${seg(fn)}/aliases/${seg(alias)}`, {
      method: 'PUT',
      body: { version }
    });
    storeChanged.emit('versions');
    return moved;
  }
};
