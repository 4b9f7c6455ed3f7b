/**
 * Every move of a function's aliases, newest first: which version each alias left and
 * which it went to.
 */
import React from 'react';

import { IAliasMove } from '../api';
import { formatFullTime, formatTime, shortId } from './format';

export function AliasHistory(props: { moves: readonly IAliasMove[] }): React.ReactElement | null {
  if (props.moves.length === 0) {
    return null;
  }
  const newestFirst = [...props.moves].reverse();
  return (
    <details className="jp-mlops-alias-history">
      <summary>Alias history ({props.moves.length})</summary>
      <ol>
        {newestFirst.map((move, index) => (
          <li key={`${move.moved_at}-${index}`} data-alias={move.alias}>
            <span className="jp-mlops-alias-chip">{move.alias}</span>{' '}
            <span className="jp-mlops-mono" title={move.previous ?? undefined}>
              {move.previous === null ? 'new' : shortId(move.previous)}
            </span>{' '}
            →{' '}
            <span className="jp-mlops-mono" title={move.version}>
              {shortId(move.version)}
            </span>{' '}
            <span className="jp-mlops-muted" title={formatFullTime(move.moved_at)}>
              {formatTime(move.moved_at)}
            </span>
            {move.actor ? (
              <span className="jp-mlops-muted" data-testid="mlops-alias-actor">
                {' '}
                by {move.actor}
              </span>
            ) : null}
          </li>
        ))}
      </ol>
    </details>
  );
}
