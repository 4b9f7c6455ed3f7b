/**
 * A deployment's retraining policy: shown as stored, set (replacing it) or removed. When it
 * drifts (or on a schedule), the loop retrains with the notebook, judges the challenger with
 * the gate and moves the alias (staging under manual approval), then rolls back what regresses.
 */
import React, { useEffect, useState } from 'react';

import { MLOpsAPIError } from '../api';
import { IPolicy, IPolicyRequest, loopApi } from '../loopApi';
import { errorMessage } from './format';

interface IDraft {
  notebook: string;
  function: string;
  sweep: string;
  gate: string;
  liveGate: string;
  promote: string;
  approval: 'auto' | 'manual';
  after: string;
  within: string;
  cooldown: string;
  schedule: string;
  enabled: boolean;
}

function seconds(value: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60]
  ] as const) {
    if (value >= size && value % size === 0) {
      return `${value / size}${unit}`;
    }
  }
  return `${value}s`;
}

function draftOf(policy: IPolicy | null, notebook: string): IDraft {
  return {
    notebook: policy?.notebook ?? notebook,
    function: policy?.function ?? '',
    sweep: policy?.sweep
      ? Object.entries(policy.sweep)
          .map(([name, values]) => `-p ${name} ${values.join(',')}`)
          .join(' ')
      : '',
    gate: policy?.gate ?? '',
    liveGate: policy?.live_gate ?? '',
    promote: policy?.promote ?? 'production',
    approval: policy?.approval ?? 'auto',
    after: String(policy?.after ?? 2),
    within: seconds(policy?.within ?? 3600),
    cooldown: seconds(policy?.cooldown ?? 3600),
    schedule: policy?.schedule ? seconds(policy.schedule) : '',
    enabled: policy?.enabled ?? true
  };
}

function requestOf(draft: IDraft): IPolicyRequest {
  const text = (value: string): string | undefined => value.trim() || undefined;
  return {
    notebook: draft.notebook.trim(),
    function: text(draft.function),
    sweep: text(draft.sweep),
    gate: text(draft.gate),
    live_gate: text(draft.liveGate),
    promote: text(draft.promote),
    approval: draft.approval,
    after: Number(draft.after),
    within: text(draft.within),
    cooldown: text(draft.cooldown),
    schedule: text(draft.schedule),
    enabled: draft.enabled
  };
}

export function PolicyForm(props: { name: string; notebook: string }): React.ReactElement {
  const { name, notebook } = props;
  const [policy, setPolicy] = useState<IPolicy | null>(null);
  const [draft, setDraft] = useState<IDraft>(draftOf(null, notebook));
  const [loaded, setLoaded] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    loopApi
      .policy(name)
      .then(found => {
        if (live) {
          setPolicy(found);
          setDraft(draftOf(found, notebook));
        }
      })
      .catch(failure => {
        // 404: no policy yet, the form starts from the defaults
        if (live && !(failure instanceof MLOpsAPIError && failure.status === 404)) {
          setError(errorMessage(failure));
        }
      })
      .finally(() => live && setLoaded(true));
    return () => {
      live = false;
    };
  }, [name]);

  const field =
    (key: keyof IDraft) =>
    (event: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>): void => {
      const value =
        event.target instanceof HTMLInputElement && event.target.type === 'checkbox'
          ? event.target.checked
          : event.target.value;
      setDraft(old => ({ ...old, [key]: value }));
    };

  const save = (): void => {
    setBusy(true);
    setError(null);
    setNotice(null);
    loopApi
      .setPolicy(name, requestOf(draft))
      .then(stored => {
        setPolicy(stored);
        setDraft(draftOf(stored, notebook));
        setNotice('Policy saved.');
      })
      .catch(failure => setError(errorMessage(failure)))
      .finally(() => setBusy(false));
  };

  const remove = (): void => {
    setBusy(true);
    setError(null);
    loopApi
      .removePolicy(name)
      .then(() => {
        setPolicy(null);
        setDraft(draftOf(null, notebook));
        setNotice('Policy removed.');
      })
      .catch(failure => setError(errorMessage(failure)))
      .finally(() => setBusy(false));
  };

  const input = (key: keyof IDraft, label: string, placeholder = ''): React.ReactElement => (
    <label className="jp-mlops-filter">
      <span>{label}</span>
      <input
        type="text"
        data-testid={`mlops-policy-${key}`}
        value={String(draft[key])}
        placeholder={placeholder}
        spellCheck={false}
        onChange={field(key)}
      />
    </label>
  );

  if (!loaded) {
    return <p className="jp-mlops-muted">Reading the policy…</p>;
  }
  return (
    <div
      className="jp-mlops-policy"
      data-testid="mlops-policy"
      data-stored={policy === null ? 'false' : 'true'}
    >
      <p className="jp-mlops-muted" data-testid="mlops-policy-state">
        {policy === null
          ? 'No policy: drift is reported, nothing is retrained.'
          : `Moves ${policy.moves} when it fires` +
            (policy.last_fired_at
              ? `; last fired ${policy.last_fired_at}: ${policy.last_outcome ?? ''}`
              : '.')}
      </p>
      {input('notebook', 'retrain with')}
      {input('function', 'function', 'none: the whole notebook')}
      {input('sweep', 'or sweep', '-p C 0.1,1,10')}
      {input('gate', 'gate', 'accuracy >= production')}
      {input('liveGate', 'live gate', 'p99_ms <= before + 50')}
      {input('promote', 'promote to')}
      <label className="jp-mlops-filter">
        <span>approval</span>
        <select
          data-testid="mlops-policy-approval"
          value={draft.approval}
          onChange={field('approval')}
        >
          <option value="auto">auto</option>
          <option value="manual">manual (moves staging)</option>
        </select>
      </label>
      {input('after', 'after drifted windows')}
      {input('within', 'within')}
      {input('cooldown', 'cooldown')}
      {input('schedule', 'every', 'e.g. 1d (optional)')}
      <label className="jp-mlops-filter">
        <span>enabled</span>
        <input
          type="checkbox"
          data-testid="mlops-policy-enabled"
          checked={draft.enabled}
          onChange={field('enabled')}
        />
      </label>
      <div className="jp-mlops-version-actions">
        <button
          type="button"
          className="jp-mlops-button"
          data-testid="mlops-policy-save"
          disabled={busy || draft.notebook.trim() === ''}
          onClick={save}
        >
          {busy ? 'Saving…' : policy === null ? 'Set policy' : 'Replace policy'}
        </button>
        {policy !== null ? (
          <button
            type="button"
            className="jp-mlops-link-button"
            data-testid="mlops-policy-remove"
            disabled={busy}
            onClick={remove}
          >
            remove
          </button>
        ) : null}
      </div>
      {notice !== null && <div className="jp-mlops-notice">{notice}</div>}
      {error !== null && (
        <div className="jp-mlops-error" role="alert" data-testid="mlops-policy-error">
          {error}
        </div>
      )}
    </div>
  );
}
