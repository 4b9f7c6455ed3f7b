/**
 * One function of the notebook: where its inputs come from, what it outputs, its version,
 * its parameter form, and Run / Sweep buttons.
 */
import React from 'react';

import { IFunctionInfo } from '../api';
import { NotebookSession } from '../session';
import { ParameterForm } from './ParameterForm';
import { RunOutcome } from './RunOutcome';
import { SweepForm } from './SweepForm';

export interface IFunctionCardProps {
  session: NotebookSession;
  fn: IFunctionInfo;
  sweeping: boolean;
  onSweep: (open: boolean) => void;
  /** Scrolls the notebook to the function's first cell. */
  onReveal: () => void;
}

const VERSION_LENGTH = 12;

export function FunctionCard(props: IFunctionCardProps): React.ReactElement {
  const { session, fn, sweeping, onSweep } = props;
  const outcome = session.outcome(fn.name);
  const invalid = session.hasValueErrors(fn.parameters);
  const starting = outcome?.state === 'starting';
  const data = fn.inputs.filter(name => fn.sources[name] !== 'parameters');
  return (
    <div className="jp-mlops-function" data-testid="mlops-function" data-name={fn.name}>
      <div className="jp-mlops-function-header">
        <button
          type="button"
          className="jp-mlops-function-name"
          title={`Show the cells of ${fn.name}`}
          onClick={props.onReveal}
        >
          {fn.name}
        </button>
        <code
          className="jp-mlops-version"
          data-testid="mlops-function-version"
          title={`version ${fn.version}`}
        >
          {fn.version.slice(0, VERSION_LENGTH)}
        </code>
      </div>
      <dl className="jp-mlops-io">
        <dt>inputs</dt>
        <dd data-testid="mlops-function-inputs">
          {fn.inputs.length === 0 ? <span className="jp-mlops-none">none</span> : null}
          {fn.inputs.map(name => (
            <span
              key={name}
              className={`jp-mlops-chip${fn.sources[name] === 'parameters' ? ' jp-mod-parameter' : ''}`}
              data-input={name}
              data-source={fn.sources[name]}
              title={`${name} comes from ${fn.sources[name] === 'parameters' ? 'the parameters' : fn.sources[name]}`}
            >
              {name}
              {fn.sources[name] !== 'parameters' ? (
                <span className="jp-mlops-chip-source">← {fn.sources[name]}</span>
              ) : null}
            </span>
          ))}
        </dd>
        <dt>outputs</dt>
        <dd data-testid="mlops-function-outputs">
          {fn.outputs.length === 0 ? <span className="jp-mlops-none">none</span> : null}
          {fn.outputs.map(name => (
            <span key={name} className="jp-mlops-chip" data-output={name}>
              {name}
            </span>
          ))}
        </dd>
        {fn.metrics.length > 0 ? (
          <>
            <dt>metrics</dt>
            <dd>
              {fn.metrics.map(name => (
                <span key={name} className="jp-mlops-chip jp-mod-metric">
                  {name}
                </span>
              ))}
            </dd>
          </>
        ) : null}
      </dl>
      <ParameterForm session={session} names={fn.parameters} />
      {data.length > 0 && fn.parameters.length === 0 ? (
        <div className="jp-mlops-hint">
          No parameters: it reads only what upstream functions made.
        </div>
      ) : null}
      <div className="jp-mlops-actions">
        <button
          type="button"
          className="jp-mlops-button jp-mod-accept"
          data-testid="mlops-run-button"
          disabled={invalid || starting}
          title={invalid ? 'Fix the values marked in red first' : `Run ${fn.name} as a tracked run`}
          onClick={() => void session.run(fn.name).catch(() => undefined)}
        >
          {starting ? 'Starting…' : 'Run'}
        </button>
        <button
          type="button"
          className={`jp-mlops-button${sweeping ? ' jp-mod-active' : ''}`}
          data-testid="mlops-sweep-button"
          disabled={fn.parameters.length === 0}
          title={
            fn.parameters.length === 0
              ? `${fn.name} reads no parameter to sweep`
              : 'Run it over several values'
          }
          aria-expanded={sweeping}
          onClick={() => onSweep(!sweeping)}
        >
          Sweep…
        </button>
      </div>
      <RunOutcome outcome={outcome} />
      {sweeping ? <SweepForm session={session} fn={fn} onClose={() => onSweep(false)} /> : null}
    </div>
  );
}
