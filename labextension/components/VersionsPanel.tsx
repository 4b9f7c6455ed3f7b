/**
 * The Versions section of the sidebar: the versions of one function of the notebook, newest
 * first, with their aliases and the alias history; diff two versions, move an alias.
 */
import React, { useEffect, useState } from 'react';

import { api, IVersion, IVersionDiff } from '../api';
import { AliasForm } from './AliasForm';
import { AliasHistory } from './AliasHistory';
import { PromoteForm } from './PromoteForm';
import { DiffView } from './DiffView';
import { errorMessage, shortId } from './format';
import { useCurrentVersions, VersionMap } from './useCurrentVersions';
import { useVersions } from './useVersions';
import { VersionRow } from './VersionRow';

export interface IVersionsPanelProps {
  notebookPath: string | null;
  functionNames: string[];
  /** The version of each function in the editor's (live) content, when the sidebar knows it. */
  currentVersions?: VersionMap;
}

/** Older first, so the diff reads as what changed since. */
function byAge(a: IVersion, b: IVersion): number {
  return Date.parse(a.created_at) - Date.parse(b.created_at);
}

export function VersionsPanel(props: IVersionsPanelProps): React.ReactElement {
  const { notebookPath, functionNames } = props;
  const [chosen, setChosen] = useState<string | null>(null);
  const fn =
    chosen !== null && functionNames.includes(chosen) ? chosen : (functionNames[0] ?? null);
  const { list, loading, error, reload } = useVersions(fn);
  const current = useCurrentVersions(notebookPath, props.currentVersions);

  const [selected, setSelected] = useState<readonly string[]>([]);
  const [diff, setDiff] = useState<IVersionDiff | null>(null);
  const [diffing, setDiffing] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    setSelected([]);
    setDiff(null);
    setProblem(null);
    setNotice(null);
  }, [fn]);

  const versions = list?.versions ?? [];
  const picked = versions.filter(version => selected.includes(version.version));

  const onToggle = (version: IVersion, on: boolean): void => {
    // Two at most: a third pick replaces the earliest.
    setSelected(old => {
      const others = old.filter(hash => hash !== version.version);
      return on ? [...others, version.version].slice(-2) : others;
    });
  };

  const showDiff = (): void => {
    if (fn === null || picked.length !== 2) {
      return;
    }
    const [older, newer] = [...picked].sort(byAge);
    setDiffing(true);
    setProblem(null);
    api
      .diff(fn, older.version, newer.version)
      .then(setDiff)
      .catch(failure => setProblem(errorMessage(failure)))
      .finally(() => setDiffing(false));
  };

  const onMoved = (moved: IVersion, alias: string): void => {
    setNotice(`${alias} → ${shortId(moved.version, 12)}`);
    reload();
  };

  if (notebookPath === null || functionNames.length === 0 || fn === null) {
    return (
      <div className="jp-mlops-versions" data-testid="mlops-versions">
        <p className="jp-mlops-muted">
          {notebookPath === null
            ? 'Open a notebook to see its functions’ versions.'
            : 'This notebook has no functions yet.'}
        </p>
      </div>
    );
  }

  const currentHash = current.versions[fn];
  const currentTitle = current.fromSavedFile
    ? 'The version in the saved notebook'
    : 'The version in the notebook as edited now';
  const aliases = versions.flatMap(version => version.aliases);

  return (
    <div className="jp-mlops-versions" data-testid="mlops-versions">
      <div className="jp-mlops-filters">
        <label className="jp-mlops-filter">
          <span>Function</span>
          <select
            data-testid="mlops-versions-function"
            value={fn}
            onChange={event => setChosen(event.target.value)}
          >
            {functionNames.map(name => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          className="jp-mlops-link-button"
          onClick={reload}
          title="Fetch the versions again"
        >
          {loading ? 'loading…' : 'refresh'}
        </button>
      </div>
      {error !== null && (
        <div className="jp-mlops-error" role="alert">
          {error}
        </div>
      )}
      {list !== null && versions.length === 0 && (
        <p className="jp-mlops-muted">
          No versions of {fn} yet: a version is recorded when the function runs.
        </p>
      )}
      {versions.length > 0 && (
        <ul className="jp-mlops-version-list" aria-label={`Versions of ${fn}`}>
          {versions.map(version => (
            <VersionRow
              key={version.version}
              version={version}
              notebookPath={notebookPath}
              current={version.version === currentHash}
              currentTitle={currentTitle}
              selected={selected.includes(version.version)}
              onToggle={onToggle}
            />
          ))}
        </ul>
      )}
      {versions.length > 0 && (
        <div className="jp-mlops-version-actions">
          <button
            type="button"
            className="jp-mlops-button"
            data-testid="mlops-diff-button"
            disabled={picked.length !== 2 || diffing}
            onClick={showDiff}
            title={
              picked.length === 2
                ? 'Show what changed between the two versions'
                : 'Select two versions to diff'
            }
          >
            {diffing ? 'Diffing…' : 'Diff'}
          </button>
          <AliasForm
            fn={fn}
            target={picked.length === 1 ? picked[0] : null}
            knownAliases={aliases}
            onMoved={onMoved}
          />
        </div>
      )}
      {versions.length > 0 && (
        <PromoteForm key={fn} fn={fn} notebookPath={notebookPath} onPromoted={reload} />
      )}
      {notice !== null && <div className="jp-mlops-notice">Moved {notice}</div>}
      {problem !== null && (
        <div className="jp-mlops-error" role="alert">
          {problem}
        </div>
      )}
      {diff !== null && diff.function === fn && (
        <DiffView diff={diff} onClose={() => setDiff(null)} />
      )}
      {list !== null && <AliasHistory moves={list.history} />}
    </div>
  );
}
