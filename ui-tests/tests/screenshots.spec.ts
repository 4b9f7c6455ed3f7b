/**
 * The README's pictures, taken on the way through one real session: the functions of
 * churn.ipynb, its runs, a comparison of two whole-notebook runs (parameters and metrics),
 * the diff of two versions of `train`, and `predict` deployed with some traffic.
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
  curlInvoke,
  deploymentDetails,
  deploymentRow,
  openChurn,
  runRow,
  screenshotPath,
  setParam,
  sidebar,
  startNotebookRun,
  startRun,
  stopAllDeployments,
  waitForRun
} from './mlops';

test.afterEach(async ({ request }) => {
  await stopAllDeployments(request);
});

test('screenshots of the sidebar for the README', async ({ page, tmpPath }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  const notebookPath = await openChurn(page, tmpPath);
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

  // predict deployed (through the REST API, under a name of its own), with a minute of
  // traffic: good requests and a few refused ones, in bursts across monitor windows.
  const deployed = await page.request.post('mlops/api/deployments', {
    data: { path: notebookPath, function: 'predict', name: 'churn-score' },
    timeout: 120_000
  });
  expect(deployed.status(), await deployed.text()).toBe(201);
  const { deployment, token } = (await deployed.json()) as {
    deployment: { url: string };
    token: string;
  };
  const customers = [
    { tenure_months: 24, charges: 70.0, calls: 1, contract_type: 'monthly' },
    { tenure_months: 3, charges: 99.5, calls: 4, contract_type: 'monthly' },
    { tenure_months: 60, charges: 45.0, calls: 0, contract_type: 'two-year' }
  ];
  for (let burst = 0; burst < 4; burst++) {
    for (let i = 0; i < 12; i++) {
      const answer = curlInvoke(deployment.url, token, JSON.stringify(customers[i % 3]));
      expect(answer.status).toBe(200);
    }
    expect(curlInvoke(deployment.url, token, '{"calls": 1}').status).toBe(400);
    await page.waitForTimeout(5500); // the next monitor window
  }
  for (const id of ['mlops-functions', 'mlops-section-runs', 'mlops-section-versions']) {
    await panel.getByTestId(id).locator('.jp-mlops-section-header').click();
  }
  const row = deploymentRow(page, 'churn-score');
  await row.locator('.jp-mlops-deployment-select').click();
  const details = deploymentDetails(page, 'churn-score');
  await expect(details).toBeVisible();
  await expect(details.getByTestId('mlops-deployment-latency')).not.toHaveAttribute(
    'data-windows',
    /^[012]$/,
    { timeout: 60_000 }
  );
  await expect
    .poll(async () => Number(await row.getByTestId('mlops-deployment-requests').getAttribute('data-value')), {
      timeout: 60_000
    })
    .toBeGreaterThanOrEqual(40);
  // A request from the try form, with the token pasted as a user would.
  await details.getByTestId('mlops-try-token').fill(token);
  await details.locator('[data-testid="mlops-try-field"][data-field="calls"]').fill('3');
  await details.getByTestId('mlops-try-send').click();
  await expect(details.getByTestId('mlops-try-result')).toHaveAttribute('data-status', '200');
  await page.setViewportSize({ width: 1440, height: 2000 });
  await panel
    .getByTestId('mlops-section-deployments')
    .screenshot({ path: screenshotPath('deployments.png') });
});
