/**
 * Promote through a gate: judge a run of the function (the one a deployment would bind, or a
 * run id) against the champion behind an alias and move the alias when every clause passes.
 * Shows each clause with both values, and which deployments followed the alias.
 */
import React, { useState } from 'react';

import { IGateClause, IPromotion, loopApi } from '../loopApi';
import { errorMessage, shortId } from './format';

export interface IPromoteFormProps {
  fn: string;
  notebookPath: string;
  onPromoted: () => void;
}

function value(number: number | null): string {
  return number === null ? '–' : Number(number.toPrecision(6)).toString();
}

function ClauseRow(props: { clause: IGateClause }): React.ReactElement {
  const { clause } = props;
  return (
    <tr data-testid="mlops-gate-clause" data-passed={clause.passed ? 'true' : 'false'}>
      <td className="jp-mlops-mono">{clause.metric}</td>
      <td>{value(clause.left)}</td>
      <td className="jp-mlops-mono">{clause.op}</td>
      <td>{value(clause.right)}</td>
      <td>{clause.passed ? 'passed' : 'failed'}</td>
      <td className="jp-mlops-muted">{clause.note ?? ''}</td>
    </tr>
  );
}

function Outcome(props: { result: IPromotion }): React.ReactElement {
  const { result } = props;
  const verdict = !result.passed
    ? `Not promoted: the gate failed; ${result.alias} did not move.`
    : result.moved
      ? `Promoted: ${result.function}@${result.alias} → run ${shortId(result.challenger, 12)}.`
      : `${result.alias} points at run ${shortId(result.challenger, 12)} already.`;
  return (
    <div
      className="jp-mlops-promotion"
      data-testid="mlops-promotion"
      data-passed={result.passed ? 'true' : 'false'}
      data-moved={result.moved ? 'true' : 'false'}
    >
      <p className={result.passed ? 'jp-mlops-notice' : 'jp-mlops-error'}>{verdict}</p>
      <p className="jp-mlops-muted">
        challenger run {shortId(result.challenger, 12)} ({result.how}); champion{' '}
        {result.champion === null ? 'none' : `run ${shortId(result.champion, 12)}`}
      </p>
      {result.clauses.length > 0 ? (
        <table className="jp-mlops-gate-table">
          <thead>
            <tr>
              <th>metric</th>
              <th>this run</th>
              <th />
              <th>needed</th>
              <th />
              <th />
            </tr>
          </thead>
          <tbody>
            {result.clauses.map((clause, i) => (
              <ClauseRow key={i} clause={clause} />
            ))}
          </tbody>
        </table>
      ) : null}
      {result.followers.map(follower => (
        <p key={follower.deployment} className="jp-mlops-muted" data-testid="mlops-follower">
          {follower.deployment}:{' '}
          {follower.ok ? 'now serves it' : `did not follow: ${follower.error ?? ''}`}
        </p>
      ))}
    </div>
  );
}

export function PromoteForm(props: IPromoteFormProps): React.ReactElement {
  const { fn, notebookPath } = props;
  const [alias, setAlias] = useState('production');
  const [gate, setGate] = useState('');
  const [run, setRun] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<IPromotion | null>(null);

  const promote = (): void => {
    if (alias.trim() === '' || busy) {
      return;
    }
    setBusy(true);
    setError(null);
    setResult(null);
    loopApi
      .promote(fn, {
        notebook: notebookPath,
        to: alias.trim(),
        ...(gate.trim() ? { gate: gate.trim() } : {}),
        ...(run.trim() ? { run: run.trim() } : {})
      })
      .then(found => {
        setResult(found);
        if (found.moved) {
          props.onPromoted();
        }
      })
      .catch(failure => setError(errorMessage(failure)))
      .finally(() => setBusy(false));
  };

  return (
    <div className="jp-mlops-promote-form" data-testid="mlops-promote-form">
      <input
        type="text"
        data-testid="mlops-promote-alias"
        aria-label="Alias to move"
        value={alias}
        spellCheck={false}
        onChange={event => setAlias(event.target.value)}
      />
      <input
        type="text"
        data-testid="mlops-promote-gate"
        aria-label="Gate"
        placeholder="gate, e.g. accuracy >= production - 0.01"
        value={gate}
        spellCheck={false}
        onChange={event => setGate(event.target.value)}
      />
      <input
        type="text"
        data-testid="mlops-promote-run"
        aria-label="Run to promote"
        placeholder="run id (default: the newest, or a sweep's best)"
        value={run}
        spellCheck={false}
        onChange={event => setRun(event.target.value)}
      />
      <button
        type="button"
        className="jp-mlops-button"
        data-testid="mlops-promote-button"
        disabled={busy || alias.trim() === ''}
        onClick={promote}
        title={`Judge a run of ${fn} against the champion behind the alias; move it if it passes`}
      >
        {busy ? 'Promoting…' : 'Promote'}
      </button>
      {error !== null && (
        <div className="jp-mlops-error" role="alert" data-testid="mlops-promote-error">
          {error}
        </div>
      )}
      {result !== null && <Outcome result={result} />}
    </div>
  );
}
