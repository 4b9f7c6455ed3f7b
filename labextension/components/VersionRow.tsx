/**
 * One version of a function: its short hash, when it first appeared, how many runs used it,
 * the aliases on it, and whether it is the code the notebook holds now. Its code unfolds.
 */
import React, { useState } from 'react';

import { IVersion } from '../api';
import { formatFullTime, formatTime, shortId } from './format';

export interface IVersionRowProps {
  version: IVersion;
  notebookPath: string | null;
  current: boolean;
  /** Tooltip of the "current" mark: where that knowledge comes from. */
  currentTitle: string;
  selected: boolean;
  onToggle: (version: IVersion, selected: boolean) => void;
}

export function VersionRow(props: IVersionRowProps): React.ReactElement {
  const { version } = props;
  const [showCode, setShowCode] = useState(false);
  const classes = ['jp-mlops-version-row'];
  if (props.selected) {
    classes.push('jp-mlops-selected');
  }
  if (props.current) {
    classes.push('jp-mlops-current');
  }
  const runs = version.run_count === 1 ? '1 run' : `${version.run_count} runs`;
  return (
    <li
      className={classes.join(' ')}
      data-testid="mlops-version-row"
      data-version={version.version}
    >
      <div className="jp-mlops-version-line">
        <input
          type="checkbox"
          data-testid="mlops-version-select"
          checked={props.selected}
          onChange={event => props.onToggle(version, event.target.checked)}
          aria-label={`Select version ${shortId(version.version, 12)}`}
        />
        <span className="jp-mlops-mono jp-mlops-version-hash" title={version.version}>
          {shortId(version.version, 12)}
        </span>
        {props.current && (
          <span className="jp-mlops-current-mark" title={props.currentTitle}>
            current
          </span>
        )}
        {version.aliases.map(alias => (
          <span
            key={alias}
            className="jp-mlops-alias-chip"
            data-testid="mlops-version-alias"
            data-alias={alias}
          >
            {alias}
          </span>
        ))}
        <span className="jp-mlops-spacer" />
        <button
          type="button"
          className="jp-mlops-link-button"
          aria-expanded={showCode}
          onClick={() => setShowCode(!showCode)}
          title={showCode ? 'Hide the code' : 'Show the code of this version'}
        >
          {showCode ? 'hide code' : 'code'}
        </button>
      </div>
      <div className="jp-mlops-version-line jp-mlops-muted">
        <span title={formatFullTime(version.created_at)}>{formatTime(version.created_at)}</span>
        <span className="jp-mlops-version-runs">{runs}</span>
        {props.notebookPath !== null && version.notebook !== props.notebookPath && (
          <span title="This version was recorded from another notebook">
            from {version.notebook}
          </span>
        )}
      </div>
      {showCode && <pre className="jp-mlops-version-code">{version.code}</pre>}
    </li>
  );
}
