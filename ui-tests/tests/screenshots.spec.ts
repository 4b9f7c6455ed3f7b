/**
 * The README's pictures, taken on the way through one real session: the functions of
 * churn.ipynb, its runs, a comparison of two whole-notebook runs (parameters and metrics)
 * and the diff of two versions of `train`.
 *
 * `jlpm test:screenshots` (MLOPS_UI_SCREENSHOTS=docs) writes them to docs/images/; a plain
 * run writes them under test-results/screenshots/ so the suite never dirties the checkout.
 * Each step asserts what the picture is meant to show, so a broken view fails here too.
 */
import { expect, test } from '@jupyterlab/galata';

import {
  EDITED_TRAIN,
  SIDEBAR_ID,
  TRAIN_CELL,
  openChurn,
  runRow,
  screenshotPath,
  setParam,
  sidebar,
  startNotebookRun,
  startRun,
  waitForRun
} from './mlops';

test('screenshots of the sidebar for the README', async ({ page, tmpPath }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await openChurn(page, tmpPath);
  await page.sidebar.setWidth(560);
  const panel = sidebar(page);
  // The sidebar widget is the scrolling box: its picture is what a user sees.
  const widget = page.locator(`#${SIDEBAR_ID}`);
  await widget.screenshot({ path: screenshotPath('sidebar-functions.png') });

  const train = await startRun(page, 'train', { C: '0.5' });
  await waitForRun(page, train.id);
  const notebookRuns = [];
  for (const C of ['0.5', '2.0']) {
    await setParam(page, 'train', 'C', C);
    const run = await startNotebookRun(page);
    await waitForRun(page, run.id);
    notebookRuns.push(run);
  }
  const runs = panel.getByTestId('mlops-runs');
  await expect(runs.getByTestId('mlops-run-row')).not.toHaveCount(0);
  await runs.screenshot({ path: screenshotPath('sidebar-runs.png') });
  await page.screenshot({ path: screenshotPath('lab-overview.png') });

  for (const run of notebookRuns) {
    await runRow(page, run.id).getByTestId('mlops-run-select').check();
  }
  await panel.getByTestId('mlops-compare-button').click();
  const compare = panel.getByTestId('mlops-compare');
  await expect(
    compare.locator('[data-testid="mlops-compare-param"][data-name="C"] .jp-mlops-differs')
  ).not.toHaveCount(0);
  await expect(compare.getByTestId('mlops-compare-metric')).not.toHaveCount(0);
  await compare.screenshot({ path: screenshotPath('sidebar-compare.png') });
  await compare.getByTestId('mlops-compare-close').click();

  expect(await page.notebook.setCell(TRAIN_CELL, 'code', EDITED_TRAIN)).toBe(true);
  const edited = await startRun(page, 'train');
  await waitForRun(page, edited.id);
  const versions = panel.getByTestId('mlops-versions');
  await versions.getByTestId('mlops-versions-function').selectOption('train');
  for (const version of [train.version, edited.version]) {
    await versions
      .locator(`[data-testid="mlops-version-row"][data-version^="${version!.slice(0, 12)}"]`)
      .getByTestId('mlops-version-select')
      .check();
  }
  await versions.getByTestId('mlops-diff-button').click();
  const diff = panel.getByTestId('mlops-diff');
  await expect(diff.locator('.jp-mlops-diff-add')).not.toHaveCount(0);
  await versions.screenshot({ path: screenshotPath('sidebar-diff.png') });
});
