/**
 * The MLOps sidebar: the active notebook's functions (with their parameter forms), its runs,
 * the versions of its functions, and the server's deployments. It follows the notebook the
 * user is working in.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { Message } from '@lumino/messaging';
import { refreshIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useMemo, useState } from 'react';

import { CommandIDs } from './commandIds';
import { DeploymentsPanel } from './components/DeploymentsPanel';
import { ExecutorPicker } from './components/ExecutorPicker';
import { FunctionsPanel } from './components/FunctionsPanel';
import { PlanProblems } from './components/PlanProblems';
import { RunsPanel } from './components/RunsPanel';
import { Section } from './components/Section';
import { useDeployments } from './components/useDeployments';
import { useSession } from './components/useSession';
import { VersionsPanel } from './components/VersionsPanel';
import { DeploymentsModel } from './deployments';
import { mlopsIcon } from './icons';
import { NotebookSession } from './session';
import { SessionTracker } from './tracker';

export const SIDEBAR_ID = 'jupyter-mlops-sidebar';

export class MLOpsSidebar extends ReactWidget {
  constructor(
    private readonly _sessions: SessionTracker,
    private readonly _app: JupyterFrontEnd,
    private readonly _deployments: DeploymentsModel
  ) {
    super();
    this.id = SIDEBAR_ID;
    this.title.icon = mlopsIcon;
    this.title.label = 'MLOps';
    this.title.caption = 'MLOps: functions, runs, versions and deployments';
    this.addClass('jp-mlops-sidebar');
  }

  protected render(): React.ReactElement {
    return (
      <SidebarView
        sessions={this._sessions}
        app={this._app}
        deployments={this._deployments}
        shown={this._shown}
        visible={this._visible}
      />
    );
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible) {
      this._markShown();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this._markShown();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    if (this._visible) {
      this._visible = false;
      this.update(); // the deployments stop polling while nobody sees them
    }
  }

  // Runs and versions are fetched from the first time the sidebar is seen, not while
  // JupyterLab starts with it closed (the badges' parse still runs: cells need it).
  private _markShown(): void {
    if (!this._shown || !this._visible) {
      this._shown = true;
      this._visible = true;
      this.update();
    }
  }

  private _shown = false;
  private _visible = false;
}

function SidebarView(props: {
  sessions: SessionTracker;
  app: JupyterFrontEnd;
  deployments: DeploymentsModel;
  /** Seen at least once: runs and versions are fetched from then on. */
  shown: boolean;
  /** Seen now: the deployments poll. */
  visible: boolean;
}): React.ReactElement {
  const { sessions, app, deployments, shown, visible } = props;
  const [session, setSession] = useState<NotebookSession | null>(sessions.current);
  useEffect(() => {
    const follow = (_: SessionTracker, current: NotebookSession | null): void =>
      setSession(current);
    sessions.currentChanged.connect(follow);
    setSession(sessions.current);
    return () => {
      sessions.currentChanged.disconnect(follow);
    };
  }, [sessions]);
  useSession(session);
  useDeployments(deployments, false); // the section's count and open request follow it
  // The path changes when the file is renamed; the panels refetch for the new one.
  const path = session?.path ?? null;
  // The same array while the names stay the same: the panels key their fetches on it.
  const namesKey = (session?.plan?.functions ?? []).map(fn => fn.name).join('\n');
  const functionNames = useMemo(() => (namesKey ? namesKey.split('\n') : []), [namesKey]);
  // Each function's version in the live content, so "current" follows unsaved edits.
  const versionsKey = (session?.plan?.functions ?? []).map(fn => `${fn.name}=${fn.version}`);
  const currentVersions = useMemo(
    () =>
      session?.plan
        ? Object.fromEntries(session.plan.functions.map(fn => [fn.name, fn.version]))
        : undefined,
    [versionsKey.join('\n')]
  );

  return (
    <div className="jp-mlops-sidebar-body" data-testid="mlops-sidebar" data-notebook={path ?? ''}>
      <header className="jp-mlops-sidebar-header">
        <span className="jp-mlops-sidebar-title" title={path ?? undefined}>
          {path === null ? 'No notebook open' : PathExt.basename(path)}
        </span>
        {session?.parsing ? <span className="jp-mlops-busy" title="Reading the notebook…" /> : null}
        <button
          type="button"
          className="jp-mlops-icon-button"
          title="Parse the notebook again and refresh the lists"
          disabled={session === null}
          onClick={() => void app.commands.execute(CommandIDs.refresh)}
        >
          <refreshIcon.react tag="span" />
        </button>
      </header>
      {session === null ? (
        <div className="jp-mlops-empty" data-testid="mlops-no-notebook">
          Open a notebook to see its functions, runs and versions. Tag cells <code>parameters</code>
          , <code>mlops:setup</code> and <code>mlops:fn:NAME</code> to make functions.
        </div>
      ) : (
        <>
          <PlanProblems session={session} onRevealCell={index => revealCell(session, index)} />
          <Section
            title="Functions"
            testId="mlops-functions"
            detail={session.plan ? String(session.plan.functions.length) : undefined}
          >
            <ExecutorPicker session={session} />
            <FunctionsPanel session={session} onReveal={fn => revealFunction(session, fn)} />
          </Section>
        </>
      )}
      <Section title="Runs" testId="mlops-section-runs">
        <RunsPanel notebookPath={shown ? path : null} functionNames={functionNames} app={app} />
      </Section>
      <Section title="Versions" testId="mlops-section-versions">
        <VersionsPanel
          notebookPath={shown ? path : null}
          functionNames={functionNames}
          currentVersions={currentVersions}
        />
      </Section>
      <Section
        title="Deployments"
        testId="mlops-section-deployments"
        detail={deployments.loaded ? String(deployments.deployments.length) : undefined}
        openRequest={deployments.revealCount}
      >
        <DeploymentsPanel model={deployments} active={visible} />
      </Section>
    </div>
  );
}

/** Makes the cell at `index` the active one and scrolls to it. */
function revealCell(session: NotebookSession, index: number): void {
  const notebook = session.panel.content;
  if (index < 0 || index >= notebook.widgets.length) {
    return;
  }
  notebook.activeCellIndex = index;
  void notebook.scrollToItem(index, 'start');
}

function revealFunction(session: NotebookSession, fn: string): void {
  const first = session.plan?.functions.find(f => f.name === fn)?.cells[0];
  if (first !== undefined) {
    revealCell(session, first);
  }
}
