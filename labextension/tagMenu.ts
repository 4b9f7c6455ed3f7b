/**
 * The tag menu: the MLOps role commands in one menu, opened from the cell toolbar's button
 * (or the tag-menu command) next to the cell it tags.
 */
import { Cell } from '@jupyterlab/cells';
import { ToolbarButton } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Menu, Widget } from '@lumino/widgets';

import { CommandIDs } from './commandIds';
import { mlopsIcon } from './icons';

/** The name of the cell toolbar item declared in schema/plugin.json. */
export const CELL_TOOLBAR_ITEM = 'mlops-tags';

export function createTagMenu(commands: CommandRegistry): Menu {
  const menu = new Menu({ commands });
  menu.addClass('jp-mlops-tag-menu');
  menu.title.label = 'MLOps tags';
  for (const command of [
    CommandIDs.tagFunction,
    CommandIDs.tagSetup,
    CommandIDs.tagParameters,
    CommandIDs.tagMetrics,
    CommandIDs.tagSkip
  ]) {
    menu.addItem({ command });
  }
  menu.addItem({ type: 'separator' });
  menu.addItem({ command: CommandIDs.clearTags });
  menu.addItem({ type: 'separator' });
  menu.addItem({ command: CommandIDs.runFunction });
  return menu;
}

/** Opens `menu` under `anchor` (or at the top right of the active cell). */
export function openMenuAt(menu: Menu, anchor: Element): void {
  const rect = anchor.getBoundingClientRect();
  menu.open(rect.left, rect.bottom, { forceX: false, forceY: false });
}

/** The cell toolbar's button. The toolbar is shown on the active cell, the one it tags. */
export function createTagMenuButton(cell: Cell, menu: Menu): Widget {
  const button: ToolbarButton = new ToolbarButton({
    icon: mlopsIcon,
    tooltip: 'MLOps: tag this cell (function, setup, parameters, metrics, skip)',
    onClick: () => {
      if (!cell.isDisposed) {
        openMenuAt(menu, button.node);
      }
    }
  });
  button.node.dataset.testid = 'mlops-cell-tag-menu';
  return button;
}
