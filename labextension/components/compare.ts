/**
 * Side-by-side comparison of runs: one row per parameter or metric name, which rows differ
 * across the runs, and which run holds the best value of each metric.
 */
import { IRun, JSONValue } from '../api';

export type Direction = 'max' | 'min';

export interface ICompareRow {
  name: string;
  /** One per run, in the runs' order; undefined: the run has no such value. */
  values: (JSONValue | undefined)[];
  /** Not every run has the same value (a missing value counts as different). */
  differs: boolean;
  /** Indices of the runs with the best value (metrics whose values differ only). */
  best: ReadonlySet<number>;
  direction: Direction | null;
}

// Metrics named like a cost are better low; anything else (accuracy, f1, auc…) high.
const LOWER_IS_BETTER =
  /loss|error|(^|_)err($|_)|mse|mae|mape|perplexity|latency|duration|time|cost|regret/i;

export function metricDirection(name: string): Direction {
  return LOWER_IS_BETTER.test(name) ? 'min' : 'max';
}

/** A JSON text that is equal for equal values, whatever the key order. */
function canonical(value: JSONValue | undefined): string {
  if (value === undefined) {
    return '\u0000missing';
  }
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map(key => `${JSON.stringify(key)}:${canonical(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function bestOf(values: (JSONValue | undefined)[], direction: Direction): Set<number> {
  const numbers = values.map(value =>
    typeof value === 'number' && Number.isFinite(value) ? value : null
  );
  const present = numbers.filter((value): value is number => value !== null);
  if (new Set(present).size < 2) {
    return new Set();
  }
  const target = direction === 'max' ? Math.max(...present) : Math.min(...present);
  const best = new Set<number>();
  numbers.forEach((value, index) => {
    if (value === target) {
      best.add(index);
    }
  });
  return best;
}

function rows(
  runs: readonly IRun[],
  pick: (run: IRun) => { [name: string]: JSONValue },
  withBest: boolean
): ICompareRow[] {
  const names = new Set<string>();
  runs.forEach(run => Object.keys(pick(run)).forEach(name => names.add(name)));
  return [...names].sort().map(name => {
    const values = runs.map(run => {
      const own = pick(run);
      return Object.prototype.hasOwnProperty.call(own, name) ? own[name] : undefined;
    });
    const differs = new Set(values.map(canonical)).size > 1;
    const direction = withBest ? metricDirection(name) : null;
    const best = direction !== null && differs ? bestOf(values, direction) : new Set<number>();
    return { name, values, differs, best, direction };
  });
}

export function parameterRows(runs: readonly IRun[]): ICompareRow[] {
  return rows(runs, run => run.parameters, false);
}

export function metricRows(runs: readonly IRun[]): ICompareRow[] {
  return rows(runs, run => run.metrics, true);
}
