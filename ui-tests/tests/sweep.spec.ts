/**
 * A sweep from the sidebar: values typed as a comma-separated list, two at a time, the best
 * run picked by a metric; every run shows in the Runs list and the sweep filter finds them.
 */
import { expect, test } from '@jupyterlab/galata';
import { Response } from '@playwright/test';

import { openChurn, runFromPalette, runRow, sidebar, waitForRun } from './mlops';

function isSweepSubmit(response: Response): boolean {
  return response.request().method() === 'POST' && response.url().includes('/mlops/api/sweeps');
}

test('a whole-notebook sweep of C runs every point and marks the best by accuracy', async ({
  page,
  tmpPath
}) => {
  await openChurn(page, tmpPath);

  // From the command palette, as every sidebar action can be.
  await runFromPalette(page, 'jupyter-mlops:sweep-notebook');
  const form = sidebar(page).getByTestId('mlops-sweep-form');
  await expect(form).toBeVisible();
  await form.locator('[data-testid="mlops-sweep-values"][data-param="C"]').fill('0.01, 2');
  await form.getByTestId('mlops-sweep-parallel').fill('2');
  await form.getByTestId('mlops-sweep-select').selectOption('max:accuracy');

  const submit = form.getByTestId('mlops-sweep-submit');
  await expect(submit).toContainText('2 runs');
  const answered = page.waitForResponse(isSweepSubmit, { timeout: 60_000 });
  await submit.click();
  const response = await answered;
  expect(response.status(), await response.text()).toBe(202);
  const sweep = (await response.json()) as { id: string; runs: string[] };
  expect(sweep.runs).toHaveLength(2);

  for (const id of sweep.runs) {
    await waitForRun(page, id);
  }

  // The sweep filter narrows the list to exactly its runs.
  await sidebar(page).getByTestId('mlops-filter-sweep').fill(sweep.id.slice(0, 8));
  await sidebar(page).getByTestId('mlops-filter-sweep').press('Enter');
  await expect(sidebar(page).getByTestId('mlops-run-row')).toHaveCount(2, { timeout: 30_000 });
  for (const id of sweep.runs) {
    await expect(runRow(page, id)).toBeVisible();
  }

  // The server marked the run with the higher accuracy as the best.
  let best: string | null = null;
  await expect(async () => {
    const finished = await page.request.get(`mlops/api/sweeps/${sweep.id}`);
    best = ((await finished.json()) as { best_run_id: string | null }).best_run_id;
    expect(best).not.toBeNull();
  }).toPass({ timeout: 30_000 });
  const accuracies: { [id: string]: number } = {};
  for (const id of sweep.runs) {
    const run = await (await page.request.get(`mlops/api/runs/${id}`)).json();
    accuracies[id] = (run as { metrics: { accuracy: number } }).metrics.accuracy;
  }
  const [first, second] = sweep.runs;
  expect(accuracies[first]).not.toBe(accuracies[second]); // else "best" would prove nothing
  const expected = accuracies[first] >= accuracies[second] ? first : second;
  expect(best).toBe(expected);
});
