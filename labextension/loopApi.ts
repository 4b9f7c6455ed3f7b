/**
 * The REST client of the loop: promote a run through a gate, the event timeline, a
 * deployment's retraining policy (/mlops/api/functions/F/promote, /events,
 * /deployments/NAME/policy). Errors come back as MLOpsAPIError with the server's message.
 */
import { JSONValue, requestAPI, storeChanged } from './api';

/** One clause of a gate, judged: the challenger's value (left) against the right side. */
export interface IGateClause {
  metric: string;
  op: string;
  left: number | null;
  right: number | null;
  passed: boolean;
  note: string | null;
}

/** POST functions/F/promote: what was compared and whether the alias moved. */
export interface IPromotion {
  function: string;
  alias: string;
  challenger: string;
  version: string;
  how: string;
  champion: string | null;
  gate: string | null;
  clauses: IGateClause[];
  passed: boolean;
  moved: boolean;
  event: number | null;
  followers: { deployment: string; ok: boolean; error: string | null; run: string | null }[];
}

export interface IPromoteRequest {
  notebook: string;
  to: string;
  gate?: string;
  run?: string;
}

/** One step of the loop (source "loop") or a deployment's own lifecycle event. */
export interface ILoopEvent {
  source: 'loop' | 'deployment';
  id: number;
  created_at: string;
  kind: string;
  deployment: string | null;
  function: string | null;
  refs: { [key: string]: JSONValue };
  message: string | null;
  actor: string | null;
}

/** A deployment's retraining policy, as the server keeps it (durations in seconds). */
export interface IPolicy {
  deployment: string;
  notebook: string;
  function: string | null;
  sweep: { [name: string]: JSONValue[] } | null;
  parameters: { [name: string]: JSONValue };
  gate: string | null;
  live_gate: string | null;
  promote: string;
  approval: 'auto' | 'manual';
  moves: string;
  after: number;
  within: number;
  cooldown: number;
  schedule: number | null;
  enabled: boolean;
  last_fired_at: string | null;
  last_outcome: string | null;
}

/** PUT deployments/NAME/policy: durations as text ("1h", "90s"), as the CLI takes them. */
export interface IPolicyRequest {
  notebook: string;
  function?: string;
  sweep?: string;
  gate?: string;
  live_gate?: string;
  promote?: string;
  approval?: 'auto' | 'manual';
  after?: number;
  within?: string;
  cooldown?: string;
  schedule?: string;
  enabled?: boolean;
}

const seg = encodeURIComponent;

export const loopApi = {
  promote: async (fn: string, request: IPromoteRequest): Promise<IPromotion> => {
    const result = await requestAPI<IPromotion>(`functions/${seg(fn)}/promote`, {
      method: 'POST',
      body: request
    });
    if (result.moved) {
      storeChanged.emit('versions'); // the alias moved: the Versions list shows it
    }
    return result;
  },
  events: async (name: string, limit = 100): Promise<ILoopEvent[]> =>
    (await requestAPI<{ events: ILoopEvent[] }>('events', { query: { name, limit } })).events,
  policy: (name: string): Promise<IPolicy> => requestAPI(`deployments/${seg(name)}/policy`),
  setPolicy: (name: string, policy: IPolicyRequest): Promise<IPolicy> =>
    requestAPI(`deployments/${seg(name)}/policy`, { method: 'PUT', body: policy }),
  removePolicy: (name: string): Promise<{ removed: string }> =>
    requestAPI(`deployments/${seg(name)}/policy`, { method: 'DELETE', body: {} })
};
