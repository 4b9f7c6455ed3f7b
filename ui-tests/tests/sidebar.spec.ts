/**
 * The sidebar reads the open notebook: its functions, their parameters, and a badge on every
 * tagged cell; tagging a cell from the command palette changes both at once.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  CHURN_BADGES,
  CHURN_FUNCTIONS,
  cellBadge,
  functionCard,
  openChurn,
  paramInput,
  runFromPalette,
  sidebar
} from './mlops';

test.describe('functions and cell roles', () => {
  test('the sidebar lists the functions of churn.ipynb and the cells show their roles', async ({
    page,
    tmpPath
  }) => {
    // The server extension answers before the UI is judged.
    const info = await page.request.get('mlops/api/info');
    expect(info.status(), await info.text()).toBe(200);

    await openChurn(page, tmpPath);

    const cards = sidebar(page).getByTestId('mlops-function');
    await expect(cards).toHaveCount(CHURN_FUNCTIONS.length);
    const names = await cards.evaluateAll(nodes => nodes.map(node => node.getAttribute('data-name')));
    // Listed in run order, as `jupyter mlops inspect` prints them.
    expect(names).toEqual(CHURN_FUNCTIONS);

    // train reads C and max_iter; the fields start at the declared defaults.
    await expect(paramInput(page, 'train', 'C')).toHaveValue(/^1(\.0)?$/);
    await expect(paramInput(page, 'train', 'max_iter')).toHaveValue('300');
    await expect(functionCard(page, 'train')).toContainText('model');

    for (const { cell, role, fn } of CHURN_BADGES) {
      const badge = await cellBadge(page, cell);
      await expect(badge, `badge of cell ${cell}`).toHaveCount(1);
      await expect(badge).toHaveAttribute('data-role', role);
      await expect(badge).toHaveAttribute('data-function', fn);
      if (role === 'function') {
        await expect(badge).toContainText(`function ${fn}`);
      }
    }
    // The markdown title is no part of any function.
    await expect(await cellBadge(page, 0)).toHaveCount(0);
  });

  test('tagging from the command palette updates the badge and the function list', async ({
    page,
    tmpPath
  }) => {
    await openChurn(page, tmpPath);

    // Cell 6 (`customers.describe()`) is tagged mlops:skip; make it a function of its own.
    await expect(await cellBadge(page, 6)).toHaveAttribute('data-role', 'skip');
    expect(await page.notebook.selectCells(6)).toBe(true);
    await runFromPalette(page, 'jupyter-mlops:tag-function');
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toBeVisible();
    await dialog.locator('input').first().fill('summary');
    await dialog.locator('.jp-mod-accept').click();
    await expect(dialog).toHaveCount(0);

    const badge = await cellBadge(page, 6);
    await expect(badge).toHaveAttribute('data-role', 'function');
    await expect(badge).toHaveAttribute('data-function', 'summary');
    // The sidebar re-parses the live, unsaved notebook.
    await expect(functionCard(page, 'summary')).toBeVisible();

    // And back: skip it again, and the function is gone.
    expect(await page.notebook.selectCells(6)).toBe(true);
    await runFromPalette(page, 'jupyter-mlops:tag-skip');
    await expect(await cellBadge(page, 6)).toHaveAttribute('data-role', 'skip');
    await expect(functionCard(page, 'summary')).toHaveCount(0);
    await expect(sidebar(page).getByTestId('mlops-function')).toHaveCount(CHURN_FUNCTIONS.length);
  });
});
