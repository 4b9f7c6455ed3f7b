/**
 * The jupyter-mlops JupyterLab extension: the MLOps sidebar (functions, runs, versions of
 * the active notebook, and the deployments), role badges with run and deploy buttons on
 * tagged cells, tag commands in the palette, the MLOps menu, the cell toolbar and the cell context menu (the menus and
 * toolbar items are declared in schema/plugin.json).
 */
import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, IToolbarWidgetRegistry } from '@jupyterlab/apputils';
import { Cell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { CellBadges } from './cells';
import { CommandIDs } from './commandIds';
import { registerCommands } from './commands';
import { DeploymentsModel } from './deployments';
import { NotebookSession } from './session';
import { MLOpsSidebar, SIDEBAR_ID } from './sidebar';
import { CELL_TOOLBAR_ITEM, createTagMenu, createTagMenuButton } from './tagMenu';
import { SessionTracker } from './tracker';

const PLUGIN_ID = 'jupyter-mlops:plugin';

/** The settings of schema/plugin.json, with their defaults. */
interface ISettings {
  parseDelay: number;
  showCellBadges: boolean;
}

const DEFAULTS: ISettings = { parseDelay: 300, showCellBadges: true };

const PALETTE_CATEGORY = 'MLOps';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Tag notebook cells into tracked, versioned functions; run, sweep, compare and deploy them.',
  autoStart: true,
  requires: [INotebookTracker, ISettingRegistry],
  optional: [ICommandPalette, ILayoutRestorer, IToolbarWidgetRegistry],
  activate: (
    app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    settingRegistry: ISettingRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    toolbarRegistry: IToolbarWidgetRegistry | null
  ): void => {
    let settings: ISettings = { ...DEFAULTS };
    const sessions = new SessionTracker(notebooks, settings.parseDelay);

    const deployments = new DeploymentsModel();

    const badges = new Map<NotebookSession, CellBadges>();
    const decorate = (session: NotebookSession): void => {
      const decorator = new CellBadges(session, app.commands, deployments, settings.showCellBadges);
      badges.set(session, decorator);
      session.panel.disposed.connect(() => {
        decorator.dispose();
        badges.delete(session);
      });
    };
    sessions.sessionAdded.connect((_, session) => decorate(session));
    notebooks.forEach(panel => {
      const session = sessions.sessionFor(panel);
      if (!badges.has(session)) {
        decorate(session);
      }
    });

    const tagMenu = createTagMenu(app.commands);
    registerCommands(app, sessions, tagMenu, deployments);
    toolbarRegistry?.addFactory<Cell>('Cell', CELL_TOOLBAR_ITEM, cell =>
      createTagMenuButton(cell, tagMenu)
    );

    const sidebar = new MLOpsSidebar(sessions, app, deployments);
    app.shell.add(sidebar, 'left', { rank: 800 });
    restorer?.add(sidebar, SIDEBAR_ID);

    if (palette) {
      for (const command of [
        CommandIDs.openSidebar,
        CommandIDs.runFunction,
        CommandIDs.runNotebook,
        CommandIDs.sweepFunction,
        CommandIDs.sweepNotebook,
        CommandIDs.deployFunction,
        CommandIDs.tagFunction,
        CommandIDs.tagSetup,
        CommandIDs.tagSkip,
        CommandIDs.tagMetrics,
        CommandIDs.tagParameters,
        CommandIDs.clearTags,
        CommandIDs.refresh
      ]) {
        palette.addItem({ command, category: PALETTE_CATEGORY });
      }
    }

    const apply = (loaded: ISettingRegistry.ISettings): void => {
      settings = {
        parseDelay:
          (loaded.get('parseDelay').composite as number | undefined) ?? DEFAULTS.parseDelay,
        showCellBadges:
          (loaded.get('showCellBadges').composite as boolean | undefined) ?? DEFAULTS.showCellBadges
      };
      sessions.parseDelay = settings.parseDelay;
      for (const decorator of badges.values()) {
        decorator.enabled = settings.showCellBadges;
      }
    };
    settingRegistry
      .load(PLUGIN_ID)
      .then(loaded => {
        apply(loaded);
        loaded.changed.connect(apply);
      })
      .catch(reason => {
        // The extension works with its defaults; say why the user's settings are not used.
        console.warn(`${PLUGIN_ID}: could not load the settings, using the defaults`, reason);
      });
  }
};

export default plugin;
