/**
 * A unified diff of two versions of a function, line by line: added lines, removed lines,
 * hunk headers and the two file names each styled apart.
 */
import React from 'react';

import { IVersionDiff } from '../api';
import { shortId } from './format';

type LineKind = 'file' | 'hunk' | 'add' | 'del' | 'context';

function kindOf(line: string): LineKind {
  if (line.startsWith('+++') || line.startsWith('---')) {
    return 'file';
  }
  if (line.startsWith('@@')) {
    return 'hunk';
  }
  if (line.startsWith('+')) {
    return 'add';
  }
  if (line.startsWith('-')) {
    return 'del';
  }
  return 'context';
}

export interface IDiffViewProps {
  diff: IVersionDiff;
  onClose: () => void;
}

export function DiffView(props: IDiffViewProps): React.ReactElement {
  const { diff } = props;
  const text = diff.diff.endsWith('\n') ? diff.diff.slice(0, -1) : diff.diff;
  const lines = text === '' ? [] : text.split('\n');
  return (
    <div className="jp-mlops-diff" data-testid="mlops-diff">
      <div className="jp-mlops-compare-bar">
        <span className="jp-mlops-compare-title">
          {diff.function}: <span className="jp-mlops-mono">{shortId(diff.a, 12)}</span> →{' '}
          <span className="jp-mlops-mono">{shortId(diff.b, 12)}</span>
        </span>
        <button
          type="button"
          className="jp-mlops-button"
          data-testid="mlops-diff-close"
          onClick={props.onClose}
          title="Close the diff"
        >
          Close
        </button>
      </div>
      {lines.length === 0 ? (
        <p className="jp-mlops-muted">The two versions have the same code.</p>
      ) : (
        <pre className="jp-mlops-diff-text">
          {lines.map((line, index) => (
            <div key={index} className={`jp-mlops-diff-line jp-mlops-diff-${kindOf(line)}`}>
              {line === '' ? ' ' : line}
            </div>
          ))}
        </pre>
      )}
    </div>
  );
}
