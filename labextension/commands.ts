/**
 * The extension's commands (ids in commandIds.ts): run a function or the notebook, deploy a
 * function, tag the active cell, refresh. They act on the active notebook unless told a path.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog, Notification } from '@jupyterlab/apputils';
import { Notebook } from '@jupyterlab/notebook';
import { Menu } from '@lumino/widgets';

import { storeChanged } from './api';
import {
  clearRoles,
  hasAnyRole,
  hasRole,
  headingAbove,
  setRole,
  taggedFunction,
  targetCells
} from './cellTags';
import { CommandIDs } from './commandIds';
import { DeploymentsModel } from './deployments';
import { mlopsIcon } from './icons';
import { NotebookSession } from './session';
import { SIDEBAR_ID } from './sidebar';
import { openMenuAt } from './tagMenu';
import { isValidFunctionName, suggestFunctionName, TaggableRole } from './tags';
import { SessionTracker } from './tracker';

interface IRunArgs {
  function?: string;
  /** The notebook's path; the active notebook when omitted. */
  path?: string;
}

export function registerCommands(
  app: JupyterFrontEnd,
  sessions: SessionTracker,
  tagMenu: Menu,
  deployments: DeploymentsModel
): void {
  const { commands } = app;

  const sessionOf = (args: IRunArgs): NotebookSession | null =>
    typeof args.path === 'string' ? sessions.findByPath(args.path) : sessions.current;

  const activeNotebook = (): Notebook | null => sessions.current?.panel.content ?? null;

  const functionOf = (args: IRunArgs): string | null => {
    if (typeof args.function === 'string' && args.function) {
      return args.function;
    }
    const session = sessionOf(args);
    return session ? session.functionAt(session.panel.content.activeCellIndex) : null;
  };

  commands.addCommand(CommandIDs.openSidebar, {
    label: 'Open the MLOps Sidebar',
    icon: mlopsIcon,
    execute: () => app.shell.activateById(SIDEBAR_ID)
  });

  commands.addCommand(CommandIDs.runFunction, {
    label: args => {
      const fn = typeof args.function === 'string' ? args.function : null;
      return fn ? `Run Function ${fn}` : 'Run the Function of the Active Cell';
    },
    caption: 'Start a tracked run of one function, with the values of the MLOps sidebar',
    isEnabled: args => functionOf(args as IRunArgs) !== null,
    execute: async args => {
      const session = sessionOf(args as IRunArgs);
      const fn = functionOf(args as IRunArgs);
      if (session === null || fn === null) {
        Notification.warning(
          'The active cell is not part of a function: tag it mlops:fn:NAME first.',
          {
            autoClose: 5000
          }
        );
        return;
      }
      await startRun(app, session, fn);
    }
  });

  commands.addCommand(CommandIDs.runNotebook, {
    label: 'Run the Whole Notebook',
    caption: 'Start a tracked run of every cell, with the values of the MLOps sidebar',
    isEnabled: () => sessions.current !== null,
    execute: async () => {
      const session = sessions.current;
      if (session !== null) {
        await startRun(app, session, null);
      }
    }
  });

  commands.addCommand(CommandIDs.sweepFunction, {
    label: args => {
      const fn = typeof args.function === 'string' ? args.function : null;
      return fn ? `Sweep Function ${fn}…` : 'Sweep the Function of the Active Cell…';
    },
    caption: 'Open the sweep form of one function in the MLOps sidebar',
    isEnabled: args => functionOf(args as IRunArgs) !== null,
    execute: args => {
      const session = sessionOf(args as IRunArgs);
      const fn = functionOf(args as IRunArgs);
      if (session !== null && fn !== null) {
        session.sweepTarget = fn;
        app.shell.activateById(SIDEBAR_ID);
      }
    }
  });

  commands.addCommand(CommandIDs.sweepNotebook, {
    label: 'Sweep the Whole Notebook…',
    caption: 'Open the sweep form of the whole notebook in the MLOps sidebar',
    isEnabled: () => sessions.current !== null,
    execute: () => {
      const session = sessions.current;
      if (session !== null) {
        session.sweepTarget = null;
        app.shell.activateById(SIDEBAR_ID);
      }
    }
  });

  commands.addCommand(CommandIDs.deployFunction, {
    label: args => {
      const fn = typeof args.function === 'string' ? args.function : null;
      return fn ? `Deploy Function ${fn}` : 'Deploy the Active Cell’s Function';
    },
    caption:
      'Serve one function as an HTTP endpoint (its upstream inputs from their last succeeded runs)',
    isEnabled: args => functionOf(args as IRunArgs) !== null,
    execute: async args => {
      const session = sessionOf(args as IRunArgs);
      const fn = functionOf(args as IRunArgs);
      if (session === null || fn === null) {
        Notification.warning(
          'The active cell is not part of a function: tag it mlops:fn:NAME first.',
          { autoClose: 5000 }
        );
        return;
      }
      await deploy(app, deployments, session, fn);
    }
  });

  const codeCellActive = (): boolean => activeNotebook()?.activeCell?.model.type === 'code';

  commands.addCommand(CommandIDs.tagFunction, {
    label: 'Tag as Function…',
    caption: 'Make the active cell the start of a function (mlops:fn:NAME)',
    isEnabled: codeCellActive,
    isToggled: () => isActiveRole(activeNotebook(), 'function'),
    execute: async args => {
      const notebook = activeNotebook();
      const cell = notebook?.activeCell;
      if (!notebook || !cell) {
        return;
      }
      const given = typeof args.name === 'string' ? args.name : null;
      const name = given ?? (await askFunctionName(notebook, sessions.current));
      if (name === null) {
        return;
      }
      if (!isValidFunctionName(name)) {
        Notification.error(`"${name}" cannot name a function: no spaces, ':', '/' or '\\'.`, {
          autoClose: 5000
        });
        return;
      }
      setRole([cell.model], 'function', name);
    }
  });

  const roleCommands: [string, TaggableRole, string, string][] = [
    [
      CommandIDs.tagSetup,
      'setup',
      'Tag as Setup',
      'Imports and helpers every function needs (mlops:setup)'
    ],
    [
      CommandIDs.tagSkip,
      'skip',
      'Tag as Skip',
      'Exploration, never part of a function (mlops:skip)'
    ],
    [
      CommandIDs.tagMetrics,
      'metrics',
      'Tag as Metrics',
      'Numbers assigned here are the run’s metrics (mlops:metrics)'
    ],
    [
      CommandIDs.tagParameters,
      'parameters',
      'Tag as Parameters',
      'The typed parameters cell (papermill’s parameters tag)'
    ]
  ];
  for (const [id, role, label, caption] of roleCommands) {
    commands.addCommand(id, {
      label,
      caption,
      // A skipped cell may be markdown too; the other roles hold code.
      isEnabled: () => (role === 'skip' ? activeNotebook()?.activeCell != null : codeCellActive()),
      isToggled: () => isActiveRole(activeNotebook(), role),
      execute: () => {
        const notebook = activeNotebook();
        if (notebook) {
          setRole(targetCells(notebook), role);
        }
      }
    });
  }

  commands.addCommand(CommandIDs.clearTags, {
    label: 'Clear MLOps Tags',
    caption: 'Remove the mlops: and role tags of the selected cells, keeping other tags',
    isEnabled: () => {
      const notebook = activeNotebook();
      return notebook !== null && targetCells(notebook).some(hasAnyRole);
    },
    execute: () => {
      const notebook = activeNotebook();
      if (notebook) {
        clearRoles(targetCells(notebook));
      }
    }
  });

  commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh MLOps',
    caption: 'Parse the notebook again and reload the runs and versions',
    execute: async () => {
      storeChanged.emit('refresh');
      await sessions.current?.parseNow();
    }
  });

  commands.addCommand(CommandIDs.tagMenu, {
    label: 'MLOps Tags…',
    caption: 'Tag the active cell',
    icon: mlopsIcon,
    isEnabled: () => activeNotebook()?.activeCell != null,
    execute: () => {
      const cell = activeNotebook()?.activeCell;
      if (cell) {
        const anchor =
          cell.node.querySelector('[data-testid="mlops-cell-tag-menu"]') ??
          cell.node.querySelector('.jp-Cell-inputWrapper') ??
          cell.node;
        openMenuAt(tagMenu, anchor);
      }
    }
  });

  // The tag commands' enabled/ticked state follows the active cell.
  sessions.notebooks.activeCellChanged.connect(() => commands.notifyCommandChanged());
}

/** Starts a run and says what became of it in a notification. */
async function startRun(
  app: JupyterFrontEnd,
  session: NotebookSession,
  fn: string | null
): Promise<void> {
  const what = fn === null ? 'the notebook' : fn;
  try {
    const run = await session.run(fn);
    Notification.success(`Queued run ${run.id.slice(0, 8)} of ${what}`, {
      autoClose: 4000,
      actions: [
        {
          label: 'Show runs',
          callback: () => app.shell.activateById(SIDEBAR_ID)
        }
      ]
    });
  } catch (error) {
    Notification.error(`Could not run ${what}: ${(error as Error).message}`, { autoClose: 8000 });
  }
}

/**
 * Deploys and opens the sidebar on the deployment (its token shown there once); a refusal
 * (no succeeded run upstream, a port in use…) is said in a notification, on the cell and in
 * the Deployments section.
 */
async function deploy(
  app: JupyterFrontEnd,
  deployments: DeploymentsModel,
  session: NotebookSession,
  fn: string
): Promise<void> {
  const pending = Notification.emit(`Deploying ${fn}…`, 'in-progress', { autoClose: false });
  try {
    const { deployment } = await deployments.deploy(session, fn);
    Notification.update({
      id: pending,
      message: `Deployed ${deployment.name} at ${deployment.url}`,
      type: 'success',
      autoClose: 5000
    });
    app.shell.activateById(SIDEBAR_ID);
  } catch (error) {
    Notification.update({
      id: pending,
      message: deployments.outcome(session.path, fn)?.message ?? (error as Error).message,
      type: 'error',
      autoClose: 10000
    });
    app.shell.activateById(SIDEBAR_ID);
  }
}

function isActiveRole(notebook: Notebook | null, role: TaggableRole): boolean {
  const model = notebook?.activeCell?.model;
  return model !== undefined && hasRole(model, role);
}

/** Asks for a function name, suggesting one; null when the user cancels. */
async function askFunctionName(
  notebook: Notebook,
  session: NotebookSession | null
): Promise<string | null> {
  const cell = notebook.activeCell;
  if (!cell) {
    return null;
  }
  const taken = session?.plan?.functions.map(fn => fn.name) ?? [];
  const current = taggedFunction(cell.model);
  const suggestion =
    current ??
    suggestFunctionName(
      {
        heading: headingAbove(notebook, notebook.activeCellIndex),
        source: cell.model.sharedModel.getSource()
      },
      taken
    );
  const result = await InputDialog.getText({
    title: 'Tag as function',
    label: 'Function name (this cell and the untagged cells after it)',
    text: suggestion,
    placeholder: 'e.g. train',
    okLabel: 'Tag'
  });
  const name = result.button.accept ? (result.value ?? '').trim() : '';
  return name === '' ? null : name;
}
