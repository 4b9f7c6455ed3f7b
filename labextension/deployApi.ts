/**
 * The REST client of deployments: a function version served as a live HTTP endpoint
 * (/mlops/api/deployments/…). Typed like api.ts and through the same requestAPI, so errors
 * come back as MLOpsAPIError with the server's message.
 */
import { INotebookRef, JSONValue, requestAPI, storeChanged } from './api';

export type DeploymentStatus = 'starting' | 'running' | 'restarting' | 'stopped' | 'failed';

/** An input of the endpoint: a notebook parameter the function reads. */
export interface IDeploymentField {
  name: string;
  /** Canonical annotation text, as in IParameter. */
  type: string;
  default: JSONValue;
  help: string;
}

/**
 * Request counts over the deployment's life; the percentiles are the worst window's of the
 * last `window_s` seconds.
 */
export interface IDeploymentStats {
  requests: number;
  /** Answers with status >= 500. */
  errors: number;
  /** Answers with a 4xx status (wrong input, no token). */
  rejected: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  window_s: number;
}

export interface IDeployment {
  name: string;
  notebook: string;
  function: string;
  /** The version wanted. */
  version: string;
  /** The version serving now (it differs while a new one starts). */
  serving_version?: string | null;
  alias: string | null;
  from_run: string | null;
  binding: JSONValue[];
  url: string;
  host: string;
  port: number;
  status: DeploymentStatus;
  desired: 'running' | 'stopped';
  pid: number | null;
  restarts: number;
  workers: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  error: string | null;
  fields: IDeploymentField[];
  /** One request body: each field's default. */
  example: { [field: string]: JSONValue };
  outputs: string[];
  /** Versions deployed before, newest first: the rollback targets. */
  versions: string[];
  stats: IDeploymentStats;
}

/** Seconds since the epoch from the monitor, or an ISO text: both are read. */
export type Moment = string | number;

export type DeploymentEventKind =
  | 'deployed'
  | 'redeployed'
  | 'replaced'
  | 'rolled_back'
  | 'started'
  | 'restarted'
  | 'crashed'
  | 'stopped'
  | 'failed'
  | 'restored';

export interface IDeploymentEvent {
  at: Moment;
  kind: DeploymentEventKind;
  version: string | null;
  message: string | null;
  /** Who caused it (absent for what the keeper did on its own: a crash, a restart). */
  actor?: string | null;
}

/** The requests of a few seconds, as the serving workers counted them. */
export interface IDeploymentWindow {
  start: Moment;
  end: Moment;
  requests: number;
  errors: number;
  rejected: number;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

/** A sampled request: its input and output (or `{truncated, bytes}` when too large). */
export interface IDeploymentSample {
  at: Moment;
  version: string | null;
  status: number;
  latency_ms: number;
  input: JSONValue;
  output: JSONValue;
}

export interface IDeploymentDetail {
  deployment: IDeployment;
  events: IDeploymentEvent[];
  windows: IDeploymentWindow[];
  samples: IDeploymentSample[];
}

/** The notebook by `path`, with `content` when the editor holds unsaved edits. */
export interface IDeployRequest extends INotebookRef {
  function: string;
  /** Default: the function's name with dashes. */
  name?: string;
  version?: string;
  alias?: string;
  from_run?: string;
  port?: number;
  new_token?: boolean;
}

export interface IDeployResponse {
  deployment: IDeployment;
  /** Only when the token is new (first deploy of the name, or new_token): shown once. */
  token: string | null;
}

/** What the endpoint answered to a request sent through the server. */
export interface IInvokeResult {
  status: number;
  body: JSONValue;
  latency_ms: number;
}

/** The version a deployment serves now, else the one it is starting. */
/** Bins of one field: labels, counts and shares (a chart's bars). */
export interface IDriftHistogram {
  labels: string[];
  counts: number[];
  shares: number[];
}

/** One field judged in one window of requests. */
export interface IDriftPoint {
  end: string;
  statistic: string;
  value: number | null;
  threshold: number | null;
  p_value: number | null;
  drifted: boolean;
  rows: number;
}

export interface IDriftField {
  field: string;
  /** "prediction": what the deployment answered (prediction, prediction.KEY); else a request field */
  role: 'input' | 'prediction';
  kind: 'numeric' | 'categorical';
  statistic: string | null;
  value: number | null;
  threshold: number | null;
  drifted: boolean;
  drifted_windows: number;
  history: IDriftPoint[];
  reference: IDriftHistogram;
  current: IDriftHistogram | null;
}

/** GET deployments/NAME/drift: each request field against the training data's reference. */
export interface IDriftReport {
  deployment: string;
  mode: string;
  window_requests: number;
  reference_source: string | null;
  message?: string;
  pending_requests: number;
  windows: { start: string; end: string; requests: number; drifted: string[] }[];
  fields: IDriftField[];
}

/** One data set a run read, as lineage records it (full-content sha256, size, schema). */
export interface ILineageDataset {
  name: string;
  uri: string | null;
  sha256: string;
  size: number;
  schema: { name: string; type: string }[] | null;
  source: string;
}

export interface ILineageRun {
  id: string;
  function: string | null;
  version: string | null;
  status: string;
  actor: string | null;
  created_at: string;
  datasets: ILineageDataset[];
}

/** GET lineage/NAME for a deployment: deployment <- version <- bound runs <- data sets. */
export interface IDeploymentLineage {
  kind: 'deployment' | 'function';
  deployment?: string;
  function: string;
  version?: string;
  serving_version?: string | null;
  actor?: string | null;
  aliases?: string[];
  binding?: { name: string; function: string; run: string; sha256: string }[];
  runs?: ILineageRun[];
}

export function servedVersion(deployment: IDeployment): string {
  return deployment.serving_version || deployment.version;
}

const seg = encodeURIComponent;

interface IDeploymentAnswer {
  deployment: IDeployment;
}

async function act(name: string, action: string, body?: unknown): Promise<IDeployment> {
  const answer = await requestAPI<IDeploymentAnswer>(`deployments/${seg(name)}/${action}`, {
    method: 'POST',
    body: body ?? {}
  });
  return answer.deployment;
}

/** One call per route of the deployments API. */
export const deployApi = {
  lineage: (name: string): Promise<IDeploymentLineage> => requestAPI(`lineage/${seg(name)}`),
  drift: (name: string): Promise<IDriftReport> => requestAPI(`deployments/${seg(name)}/drift`),
  list: async (): Promise<IDeployment[]> =>
    (await requestAPI<{ deployments: IDeployment[] }>('deployments')).deployments,
  get: (name: string, query: { windows?: number; samples?: number } = {}) =>
    requestAPI<IDeploymentDetail>(`deployments/${seg(name)}`, { query }),
  logs: async (name: string, lines = 200): Promise<string[]> =>
    (await requestAPI<{ lines: string[] }>(`deployments/${seg(name)}/logs`, { query: { lines } }))
      .lines,
  deploy: async (request: IDeployRequest): Promise<IDeployResponse> => {
    const answer = await requestAPI<IDeployResponse>('deployments', {
      method: 'POST',
      body: request
    });
    // A deploy of unsaved code records a new version of the function: the Versions list shows it.
    storeChanged.emit('deployments');
    return answer;
  },
  stop: (name: string): Promise<IDeployment> => act(name, 'stop'),
  start: (name: string): Promise<IDeployment> => act(name, 'start'),
  /** To the version starting with `to`; omitted: the one deployed before the current. */
  rollback: (name: string, to?: string): Promise<IDeployment> =>
    act(name, 'rollback', to === undefined ? {} : { to }),
  invoke: (name: string, token: string, payload: JSONValue): Promise<IInvokeResult> =>
    requestAPI<IInvokeResult>(`deployments/${seg(name)}/invoke`, {
      method: 'POST',
      body: { token, payload }
    })
};
