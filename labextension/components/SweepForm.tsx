/**
 * The sweep form of a function (or of the whole notebook): candidate values per parameter,
 * how many runs at once, and the metric that picks the best run.
 */
import React, { useMemo, useState } from 'react';

import { IFunctionInfo, IParameter } from '../api';
import { candidateText, splitValues } from '../parameterText';
import { NotebookSession } from '../session';
import { ExecutorPicker } from './ExecutorPicker';

export interface ISweepFormProps {
  session: NotebookSession;
  /** The function swept; null sweeps the whole notebook. */
  fn: IFunctionInfo | null;
  onClose: () => void;
}

const DEFAULT_PARALLEL = 2;

export function SweepForm(props: ISweepFormProps): React.ReactElement {
  const { session, fn, onClose } = props;
  const plan = session.plan;
  const params: IParameter[] = useMemo(() => {
    const all = plan?.parameters ?? [];
    return fn === null ? all : all.filter(p => fn.parameters.includes(p.name));
  }, [plan, fn]);
  // Each field starts from the value the form holds: one value is a fixed value.
  const [texts, setTexts] = useState<{ [name: string]: string }>(() =>
    Object.fromEntries(params.map(p => [p.name, session.valueText(p.name)]))
  );
  const [parallel, setParallel] = useState(String(DEFAULT_PARALLEL));
  const [select, setSelect] = useState('');
  const [submitting, setSubmitting] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  const candidates = Object.fromEntries(
    params.map(p => [p.name, splitValues(texts[p.name] ?? '').map(item => candidateText(p, item))])
  );
  const swept = params.filter(p => candidates[p.name].length > 1);
  const pointCount = swept.reduce((count, p) => count * candidates[p.name].length, 1);
  const empty = params.filter(p => candidates[p.name].length === 0);
  const parallelValue = Number(parallel);
  const parallelValid = Number.isInteger(parallelValue) && parallelValue >= 1;

  // The metrics a run of this sweep records; others can be picked but pick nothing.
  const recorded = new Set(fn === null ? (plan?.metrics ?? []).map(m => m.name) : fn.metrics);
  const metrics = [...new Set((plan?.metrics ?? []).map(m => m.name))];

  const submit = async (): Promise<void> => {
    setSubmitting(true);
    setProblem(null);
    const space: { [name: string]: string[] } = {};
    const fixed: { [name: string]: string } = {};
    for (const p of params) {
      if (candidates[p.name].length > 1) {
        space[p.name] = candidates[p.name];
      } else if (candidates[p.name][0] !== session.valueText(p.name)) {
        fixed[p.name] = candidates[p.name][0];
      }
    }
    try {
      await session.sweep({
        function: fn?.name ?? null,
        space,
        fixed,
        parallel: parallelValue,
        select: select || undefined
      });
      onClose();
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setSubmitting(false);
    }
  };

  const blocker =
    params.length === 0
      ? 'There are no parameters to sweep.'
      : swept.length === 0
        ? 'Give two or more comma-separated values for at least one parameter.'
        : empty.length > 0
          ? `Give a value for ${empty.map(p => p.name).join(', ')}.`
          : !parallelValid
            ? 'Parallel runs must be a whole number, 1 or more.'
            : null;

  return (
    <form
      className="jp-mlops-sweep-form"
      data-testid="mlops-sweep-form"
      onSubmit={event => {
        event.preventDefault();
        if (blocker === null && !submitting) {
          void submit();
        }
      }}
    >
      <div className="jp-mlops-sweep-title">
        Sweep {fn === null ? 'the whole notebook' : fn.name}
      </div>
      {params.map(p => (
        <label key={p.name} className="jp-mlops-sweep-field">
          <span className="jp-mlops-param-label">
            <span className="jp-mlops-param-name">{p.name}</span>
            <span className="jp-mlops-param-type">{p.type}</span>
          </span>
          <input
            className="jp-mod-styled"
            data-testid="mlops-sweep-values"
            data-param={p.name}
            type="text"
            spellCheck={false}
            value={texts[p.name] ?? ''}
            placeholder="e.g. 0.1, 1, 10"
            onChange={event => setTexts({ ...texts, [p.name]: event.target.value })}
          />
        </label>
      ))}
      <ExecutorPicker session={session} testId="mlops-sweep-executor" />
      <div className="jp-mlops-sweep-options">
        <label className="jp-mlops-sweep-field">
          <span className="jp-mlops-param-label">parallel runs</span>
          <input
            className="jp-mod-styled"
            data-testid="mlops-sweep-parallel"
            type="number"
            min={1}
            step={1}
            value={parallel}
            onChange={event => setParallel(event.target.value)}
          />
        </label>
        <label className="jp-mlops-sweep-field">
          <span className="jp-mlops-param-label">best run by</span>
          <select
            className="jp-mod-styled"
            data-testid="mlops-sweep-select"
            value={select}
            onChange={event => setSelect(event.target.value)}
          >
            <option value="">(no selection)</option>
            {metrics.flatMap(name =>
              ['max', 'min'].map(goal => (
                <option key={`${goal}:${name}`} value={`${goal}:${name}`}>
                  {`${goal}:${name}`}
                  {recorded.has(name) ? '' : ' (not recorded by these runs)'}
                </option>
              ))
            )}
          </select>
        </label>
      </div>
      {select && !recorded.has(select.slice(4)) ? (
        <div className="jp-mlops-hint">
          {fn?.name ?? 'This'} runs do not record {select.slice(4)}, so the sweep will pick no best
          run; sweep the whole notebook to select on it.
        </div>
      ) : null}
      {problem ? <div className="jp-mlops-error">{problem}</div> : null}
      <div className="jp-mlops-actions">
        <button
          type="submit"
          className="jp-mlops-button jp-mod-accept"
          data-testid="mlops-sweep-submit"
          disabled={blocker !== null || submitting}
          title={blocker ?? undefined}
        >
          {submitting ? 'Queuing…' : `Queue ${pointCount} run${pointCount === 1 ? '' : 's'}`}
        </button>
        <button type="button" className="jp-mlops-button" onClick={onClose}>
          Cancel
        </button>
      </div>
      {blocker && params.length > 0 ? <div className="jp-mlops-hint">{blocker}</div> : null}
    </form>
  );
}
