/**
 * The latency chart's geometry and the deployments' polling pace.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { latencySeries, polylinePoints, yOf } from '../components/sparkline';
import type { IDeploymentWindow } from '../deployApi';
import { POLL_AFTER_ERROR_MS, POLL_BUSY_MS, POLL_IDLE_MS, pollDelay } from '../deployStatus';

function window(end: string, p50: number | null, p99: number | null, requests = 1) {
  const result: IDeploymentWindow = {
    start: end,
    end,
    requests,
    errors: 0,
    rejected: 0,
    p50_ms: p50,
    p90_ms: null,
    p99_ms: p99,
    max_ms: p99
  };
  return result;
}

const BOX = { width: 100, height: 50, pad: 5 };

describe('latencySeries', () => {
  it('orders the windows by time and scales to the highest p99', () => {
    const series = latencySeries([
      window('2026-01-01T00:00:10Z', 2, 8, 3),
      window('2026-01-01T00:00:00Z', 1, 4, 5),
      window('2026-01-01T00:00:20Z', null, null, 0)
    ]);
    assert.ok(series);
    assert.equal(series.top, 8);
    assert.deepEqual(
      series.p50.map(point => point.value),
      [1, 2]
    );
    assert.deepEqual(
      series.requests.map(point => point.value),
      [5, 3, 0]
    );
    // x runs over the whole time span, y from the bottom (0 ms) to the top (8 ms).
    assert.equal(polylinePoints(series.p99, series, BOX), '0,25 50,5');
    assert.equal(yOf(0, series.top, BOX), 45);
  });

  it('puts a single window in the middle and has nothing to draw without windows', () => {
    const one = latencySeries([window('2026-01-01T00:00:00Z', 1, 1)]);
    assert.ok(one);
    assert.equal(polylinePoints(one.p50, one, BOX), '50,5');
    assert.equal(latencySeries([]), null);
  });
});

describe('pollDelay', () => {
  it('polls every 2 s while a deployment starts or restarts, or a deploy is on its way', () => {
    assert.equal(
      pollDelay({ statuses: ['running', 'starting'], busy: false, failed: false }),
      POLL_BUSY_MS
    );
    assert.equal(pollDelay({ statuses: ['restarting'], busy: false, failed: false }), POLL_BUSY_MS);
    assert.equal(pollDelay({ statuses: [], busy: true, failed: false }), POLL_BUSY_MS);
    assert.equal(POLL_BUSY_MS, 2000);
  });

  it('polls every 10 s otherwise, and more slowly while the server fails', () => {
    assert.equal(
      pollDelay({ statuses: ['running', 'stopped', 'failed'], busy: false, failed: false }),
      POLL_IDLE_MS
    );
    assert.equal(POLL_IDLE_MS, 10000);
    assert.equal(
      pollDelay({ statuses: ['starting'], busy: true, failed: true }),
      POLL_AFTER_ERROR_MS
    );
  });
});
