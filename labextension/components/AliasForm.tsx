/**
 * Move an alias (staging, production, any name) to the one selected version: a promotion.
 */
import React, { useId, useState } from 'react';

import { api, IVersion } from '../api';
import { errorMessage, shortId } from './format';

const SUGGESTED = ['staging', 'production'];

export interface IAliasFormProps {
  fn: string;
  /** The version the alias would move to; null unless exactly one is selected. */
  target: IVersion | null;
  /** Aliases this function has now, offered besides the usual ones. */
  knownAliases: readonly string[];
  onMoved: (moved: IVersion, alias: string) => void;
}

export function AliasForm(props: IAliasFormProps): React.ReactElement {
  const { fn, target } = props;
  const listId = useId();
  const [alias, setAlias] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const name = alias.trim();
  const suggestions = [...new Set([...SUGGESTED, ...props.knownAliases])];

  const move = (): void => {
    if (target === null || name === '' || busy) {
      return;
    }
    setBusy(true);
    setError(null);
    api
      .setAlias(fn, name, target.version)
      .then(moved => {
        setAlias('');
        props.onMoved(moved, name);
      })
      .catch(failure => setError(errorMessage(failure)))
      .finally(() => setBusy(false));
  };

  const hint =
    target === null
      ? 'Select one version to move an alias to it'
      : name === ''
        ? 'Type an alias name'
        : `Point ${name} at ${shortId(target.version, 12)}`;

  return (
    <div className="jp-mlops-alias-form">
      <input
        type="text"
        data-testid="mlops-alias-input"
        list={listId}
        placeholder="alias, e.g. production"
        value={alias}
        spellCheck={false}
        aria-label="Alias name"
        onChange={event => setAlias(event.target.value)}
        onKeyDown={event => {
          if (event.key === 'Enter') {
            move();
          }
        }}
      />
      <datalist id={listId}>
        {suggestions.map(suggestion => (
          <option key={suggestion} value={suggestion} />
        ))}
      </datalist>
      <button
        type="button"
        className="jp-mlops-button"
        data-testid="mlops-alias-button"
        disabled={target === null || name === '' || busy}
        onClick={move}
        title={hint}
      >
        {busy ? 'Moving…' : 'Move alias'}
      </button>
      {error !== null && (
        <div className="jp-mlops-error" role="alert">
          {error}
        </div>
      )}
    </div>
  );
}
