/**
 * Deployments from the notebook: "Deploy this cell" on `predict` serves it as an HTTP
 * endpoint that answers what the run computed, from the sidebar's try-request form and from
 * curl alike; the edited cell deployed again (from the palette) is a new version on the same
 * URL, a rollback from the sidebar serves the first one again, Stop and Start keep the URL
 * and the token.
 * A deploy the server refuses says why, on the cell and in the sidebar.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import { execFileSync } from 'child_process';
import * as fs from 'fs';

import {
  EXAMPLE,
  PREDICT_CELL,
  RUN_TIMEOUT,
  TRAIN_CELL,
  cellBadge,
  curlInvoke,
  deployBy,
  deployFromCell,
  deploymentDetails,
  deploymentRow,
  openChurn,
  runFromPalette,
  sidebar,
  startNotebookRun,
  stopAllDeployments,
  waitForRun
} from './mlops';

const NAME = 'predict';

/** The predict cell with another threshold: a new version whose `will_churn` differs. */
function editedPredict(): string {
  const notebook = JSON.parse(fs.readFileSync(EXAMPLE, 'utf-8')) as {
    cells: { source: string | string[] }[];
  };
  const source = notebook.cells[PREDICT_CELL].source;
  const code = Array.isArray(source) ? source.join('') : source;
  expect(code).toContain('churn_probability >= 0.5');
  return code.replace('churn_probability >= 0.5', 'churn_probability >= 0.6');
}

/** Re-tag the train cell as function `name` (through the palette's tag command). */
async function tagTrainAs(page: IJupyterLabPageFixture, name: string): Promise<void> {
  expect(await page.notebook.selectCells(TRAIN_CELL)).toBe(true);
  await runFromPalette(page, 'jupyter-mlops:tag-function');
  const dialog = page.locator('.jp-Dialog');
  await expect(dialog).toBeVisible();
  await dialog.locator('input').first().fill(name);
  await dialog.locator('.jp-mod-accept').click();
  await expect(dialog).toHaveCount(0);
  await expect(await cellBadge(page, TRAIN_CELL)).toHaveAttribute('data-function', name);
}

/** The value of the run's `predict/churn_probability` artifact, read through the REST API. */
async function recordedProbability(page: IJupyterLabPageFixture, runId: string): Promise<number> {
  const run = (await (await page.request.get(`mlops/api/runs/${runId}`)).json()) as {
    artifacts: { id: string; name: string }[];
  };
  const artifact = run.artifacts.find(a => a.name === 'predict/churn_probability');
  expect(artifact, 'the run recorded predict/churn_probability').toBeTruthy();
  const bytes = await page.request.get(`mlops/api/artifacts/${artifact!.id}`);
  expect(bytes.status()).toBe(200);
  return JSON.parse(await bytes.text()) as number;
}

/** The request body of the curl example the sidebar shows (between `-d '` and `'`). */
function curlBody(command: string): string {
  const match = /-d '([^']*)'/.exec(command);
  expect(match, command).not.toBeNull();
  return match![1];
}

async function requestCount(page: IJupyterLabPageFixture): Promise<number> {
  const count = deploymentRow(page, NAME).getByTestId('mlops-deployment-requests');
  return Number(await count.getAttribute('data-value'));
}

test.afterEach(async ({ request }) => {
  await stopAllDeployments(request);
});

test('deploy predict from its cell, call it, redeploy an edit, roll back, stop and start', async ({
  page,
  tmpPath
}) => {
  await openChurn(page, tmpPath);
  const panel = sidebar(page);
  const section = panel.getByTestId('mlops-section-deployments');

  // Given predict's model comes from a function that never ran (whatever ran before in this
  // server), the deploy is refused, and the reason is on the cell and in the Deployments
  // section, not swallowed.
  await tagTrainAs(page, 'fit');
  const refused = await deployFromCell(page, PREDICT_CELL);
  expect(refused.status).toBe(400);
  expect(refused.body.message).toContain('no succeeded run');
  const cell = await page.notebook.getCellLocator(PREDICT_CELL);
  const cellOutcome = cell!.getByTestId('mlops-cell-deploy-outcome');
  await expect(cellOutcome).toHaveAttribute('data-state', 'failed');
  await expect(cellOutcome).toContainText('no succeeded run');
  const outcome = section.getByTestId('mlops-deploy-outcome');
  await expect(outcome).toHaveAttribute('data-state', 'failed');
  await expect(outcome).toContainText('no succeeded run');
  await tagTrainAs(page, 'train');

  // When the whole notebook has run (so prepare and train have succeeded runs)
  const run = await startNotebookRun(page);
  await waitForRun(page, run.id);
  const expected = await recordedProbability(page, run.id);
  expect(expected).toBeGreaterThan(0);
  expect(expected).toBeLessThan(1);

  // and predict is deployed from its cell,
  const first = await deployFromCell(page, PREDICT_CELL);
  expect(first.status, JSON.stringify(first.body)).toBe(201);
  expect(first.body.token).toBeTruthy();
  const v1 = first.body.deployment!.version;

  // then the sidebar shows it running, with its URL and, this once, its token.
  const row = deploymentRow(page, NAME);
  await expect(row).toHaveAttribute('data-status', 'running');
  await expect(row.getByTestId('mlops-deployment-status')).toHaveText('running');
  await expect(row.getByTestId('mlops-deployment-version')).toHaveText(
    `predict@${v1.slice(0, 12)}`
  );
  const url = (await row.getByTestId('mlops-deployment-url').textContent())!.trim();
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const details = deploymentDetails(page, NAME);
  await expect(details).toBeVisible();
  const token = (await details.getByTestId('mlops-deployment-token').textContent())!.trim();
  expect(token).toBe(first.body.token);
  await expect(details.getByTestId('mlops-deployment-token-notice')).toContainText('only once');

  // The try-request form (fields from the example, the token filled in) answers the run's value.
  const form = details.getByTestId('mlops-try-form');
  await expect(form.locator('[data-testid="mlops-try-field"][data-field="contract_type"]')).toHaveValue(
    'monthly'
  );
  await expect(form.locator('[data-testid="mlops-try-field"][data-field="charges"]')).toHaveValue('70.0');
  await expect(form.getByTestId('mlops-try-token')).toHaveValue(token);
  await form.getByTestId('mlops-try-send').click();
  const result = form.getByTestId('mlops-try-result');
  await expect(result).toHaveAttribute('data-status', '200');
  const answered = JSON.parse((await result.getByTestId('mlops-try-body').textContent())!) as {
    churn_probability: number;
    will_churn: boolean;
  };
  expect(answered.churn_probability).toBe(expected);
  expect(answered.will_churn).toBe(expected >= 0.5);

  // So does curl, outside JupyterLab, with the example of the curl command shown, and the
  // command itself works pasted into a shell with $TOKEN set.
  const command = (await details.getByTestId('mlops-deployment-curl').textContent())!;
  expect(command).toContain(`${url}/invoke`);
  expect(command).toContain('Authorization: Bearer $TOKEN');
  const body = curlBody(command);
  const called = curlInvoke(url, token, body);
  expect(called.status).toBe(200);
  expect(called.json['churn_probability']).toBe(expected);
  const pasted = execFileSync('sh', ['-c', command], {
    encoding: 'utf-8',
    env: { ...process.env, TOKEN: token },
    stdio: ['ignore', 'pipe', 'ignore'] // curl's progress meter
  });
  expect((JSON.parse(pasted) as { churn_probability: number }).churn_probability).toBe(expected);
  // Without the token the endpoint refuses.
  expect(curlInvoke(url, 'wrong', body).status).toBe(401);

  // The requests are counted (the serving workers report every few seconds).
  await expect.poll(() => requestCount(page), { timeout: 60_000 }).toBeGreaterThanOrEqual(3);
  await expect(details.getByTestId('mlops-deployment-latency')).not.toHaveAttribute('data-windows', '0', {
    timeout: 30_000
  });
  await details.getByTestId('mlops-logs-refresh').click();
  await expect(details.getByTestId('mlops-deployment-logs')).toContainText(
    `serving predict@${v1.slice(0, 12)}`
  );
  await details.getByTestId('mlops-token-dismiss').click();
  await expect(details.getByTestId('mlops-deployment-token-notice')).toHaveCount(0);

  // When the predict cell changes (unsaved) and is deployed again, from the command palette
  expect(await page.notebook.setCell(PREDICT_CELL, 'code', editedPredict())).toBe(true);
  expect(await page.notebook.selectCells(PREDICT_CELL)).toBe(true);
  const second = await deployBy(page, () => runFromPalette(page, 'jupyter-mlops:deploy-cell'));
  expect(second.status, JSON.stringify(second.body)).toBe(201);
  const v2 = second.body.deployment!.version;
  expect(v2).not.toBe(v1);
  // then it is the same deployment: same name, same URL, same token (none new to show).
  expect(second.body.deployment!.name).toBe(NAME);
  expect(second.body.deployment!.url).toBe(url);
  expect(second.body.token).toBeNull();
  await expect(row).toHaveAttribute('data-version', v2);
  await expect(row.getByTestId('mlops-deployment-url')).toHaveText(url);
  await expect(details.getByTestId('mlops-deployment-token-notice')).toHaveCount(0);
  const edited = curlInvoke(url, token, body);
  expect(edited.json['churn_probability']).toBe(expected);
  expect(edited.json['will_churn']).toBe(expected >= 0.6);
  expect(expected >= 0.6).not.toBe(expected >= 0.5); // else the two versions would look alike

  // When it is rolled back from the sidebar to the first version
  await expect.poll(() => requestCount(page), { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
  const before = await requestCount(page);
  const rollbackTo = details.getByTestId('mlops-rollback-version');
  await expect(rollbackTo.locator('option')).toHaveCount(1);
  await rollbackTo.selectOption(v1);
  await details.getByTestId('mlops-rollback-button').click();
  // then the first version serves again, at the same URL, and says what it used to.
  await expect(row).toHaveAttribute('data-version', v1, { timeout: RUN_TIMEOUT });
  await expect(row.getByTestId('mlops-deployment-version')).toHaveText(
    `predict@${v1.slice(0, 12)}`
  );
  await expect(row).toHaveAttribute('data-status', 'running');
  const rolledBack = curlInvoke(url, token, body);
  expect(rolledBack.json).toEqual(called.json);
  await expect(
    details.locator('[data-testid="mlops-deployment-event"][data-kind="rolled_back"]')
  ).toHaveCount(1);
  await expect(
    details.locator('[data-testid="mlops-deployment-event"][data-kind="redeployed"]')
  ).toHaveCount(1);
  // and the request count went on growing across the versions.
  await expect.poll(() => requestCount(page), { timeout: 60_000 }).toBeGreaterThan(before);

  // Stop, then Start: the same URL and token serve again.
  await details.getByTestId('mlops-deployment-stop').click();
  await expect(row).toHaveAttribute('data-status', 'stopped', { timeout: RUN_TIMEOUT });
  await details.getByTestId('mlops-deployment-start').click();
  await expect(row).toHaveAttribute('data-status', 'running', { timeout: RUN_TIMEOUT });
  await expect(row.getByTestId('mlops-deployment-url')).toHaveText(url);
  expect(curlInvoke(url, token, body).json).toEqual(called.json);
});
