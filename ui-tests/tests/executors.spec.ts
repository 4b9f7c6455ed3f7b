/**
 * Where runs execute, chosen in the sidebar: a sweep of the whole notebook on Dask (the
 * server starts a LocalCluster and keeps it while runs use it). The POST carries the choice,
 * every run row says which worker ran it, and the cluster's dashboard link is offered.
 */
import { expect, test } from '@jupyterlab/galata';
import { Response } from '@playwright/test';

import { openChurn, runFromPalette, runRow, sidebar, waitForRun } from './mlops';

function isSweepSubmit(response: Response): boolean {
  return response.request().method() === 'POST' && response.url().includes('/mlops/api/sweeps');
}

test('a sweep on the dask executor records each run with its worker and links the dashboard', async ({
  page,
  tmpPath
}) => {
  await openChurn(page, tmpPath);

  // The choice above the functions lists every registered executor, the default marked.
  const picker = sidebar(page).getByTestId('mlops-executor-select');
  await expect(picker).toBeVisible();
  await expect(picker.locator('option[value="local"]')).toHaveCount(1);
  await expect(picker.locator('option[value="dask"]')).toHaveCount(1);
  await expect(picker).toHaveValue('local');

  await runFromPalette(page, 'jupyter-mlops:sweep-notebook');
  const form = sidebar(page).getByTestId('mlops-sweep-form');
  await expect(form).toBeVisible();
  // The sweep form's own choice is the same setting as the one above the functions.
  await form.getByTestId('mlops-sweep-executor').selectOption('dask');
  await expect(picker).toHaveValue('dask');
  await form.locator('[data-testid="mlops-sweep-values"][data-param="C"]').fill('0.05, 3');
  await form.getByTestId('mlops-sweep-parallel').fill('2');

  const answered = page.waitForResponse(isSweepSubmit, { timeout: 60_000 });
  await form.getByTestId('mlops-sweep-submit').click();
  const response = await answered;
  expect(response.status(), await response.text()).toBe(202);
  expect((response.request().postDataJSON() as { executor?: string }).executor).toBe('dask');
  const sweep = (await response.json()) as { id: string; runs: string[] };
  expect(sweep.runs).toHaveLength(2);

  for (const id of sweep.runs) {
    await waitForRun(page, id);
    const run = (await (await page.request.get(`mlops/api/runs/${id}`)).json()) as {
      executor: string;
      worker: string | null;
      metrics: { accuracy?: number };
    };
    expect(run.executor).toBe('dask');
    expect(run.worker).toMatch(/^(tcp|inproc):\/\//);
    expect(run.metrics.accuracy).toBeGreaterThan(0);
    // The row names the executor and the worker (its address without the scheme).
    await expect(runRow(page, id).getByTestId('mlops-run-where')).toContainText('dask');
  }

  // A cluster is running now: the executor list gives its dashboard, and the sidebar links it.
  const listed = (await (await page.request.get('mlops/api/executors')).json()) as {
    executors: { name: string; dashboard_url: string | null }[];
  };
  const dask = listed.executors.find(executor => executor.name === 'dask');
  expect(dask?.dashboard_url).toMatch(/^https?:\/\//);
  await picker.selectOption('local');
  await picker.selectOption('dask');
  await expect(sidebar(page).getByTestId('mlops-executor-dashboard').first()).toHaveAttribute(
    'href',
    dask?.dashboard_url ?? ''
  );
});
