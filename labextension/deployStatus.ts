/**
 * What a deployment's status allows, and how often the sidebar looks at the deployments:
 * every two seconds while one is on its way somewhere (starting, restarting, a deploy from
 * this page in flight), every ten otherwise, and more slowly while the server fails.
 */
import type { DeploymentStatus } from './deployApi';

export const POLL_BUSY_MS = 2000;
export const POLL_IDLE_MS = 10000;
export const POLL_AFTER_ERROR_MS = 15000;

const TRANSITIONAL: ReadonlySet<DeploymentStatus> = new Set<DeploymentStatus>([
  'starting',
  'restarting'
]);

/** Starting or restarting: about to change by itself. */
export function isTransitional(status: DeploymentStatus): boolean {
  return TRANSITIONAL.has(status);
}

/** Stop is offered while the deployment serves or tries to. */
export function canStop(status: DeploymentStatus): boolean {
  return status === 'running' || isTransitional(status);
}

/** Start is offered to a stopped or failed deployment (same port, same token). */
export function canStart(status: DeploymentStatus): boolean {
  return status === 'stopped' || status === 'failed';
}

export interface IPollState {
  statuses: readonly DeploymentStatus[];
  /** A deploy or an action from this page is waiting for the server. */
  busy: boolean;
  /** The last poll failed. */
  failed: boolean;
}

/** Milliseconds until the next look at the deployments. */
export function pollDelay(state: IPollState): number {
  if (state.failed) {
    return POLL_AFTER_ERROR_MS;
  }
  return state.busy || state.statuses.some(isTransitional) ? POLL_BUSY_MS : POLL_IDLE_MS;
}
