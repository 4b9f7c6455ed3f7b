/**
 * Steps the specs share: put a fresh copy of the example notebook in the test's folder, open
 * it with the MLOps sidebar, fill a function's parameters, start a run and wait for it.
 *
 * Everything is found by the data-testid names of /work/notes/ui-contract.md, never by CSS
 * layout, so a restyled sidebar keeps the suite green and a renamed testid turns it red.
 */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { APIRequestContext, Locator, Response } from '@playwright/test';
import { execFileSync } from 'child_process';
import * as path from 'path';

export const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'churn.ipynb');
export const NOTEBOOK = 'churn.ipynb';
export const SIDEBAR_ID = 'jupyter-mlops-sidebar';

/** A run of `train` starts load_data and prepare first when nothing upstream ran yet. */
export const RUN_TIMEOUT = 180_000;

/** The functions of examples/churn.ipynb, in run order (see `jupyter mlops inspect`). */
export const CHURN_FUNCTIONS = ['load_data', 'prepare', 'train', 'evaluate', 'predict'];

/** Cell index → the badge the notebook should show on it (tagged cells of churn.ipynb). */
export const CHURN_BADGES: { cell: number; role: string; fn: string }[] = [
  { cell: 1, role: 'parameters', fn: '' },
  { cell: 2, role: 'setup', fn: '' },
  { cell: 4, role: 'function', fn: 'load_data' },
  { cell: 6, role: 'skip', fn: '' },
  { cell: 8, role: 'function', fn: 'prepare' },
  { cell: 10, role: 'function', fn: 'train' },
  { cell: 12, role: 'function', fn: 'evaluate' },
  { cell: 13, role: 'metrics', fn: 'evaluate' },
  { cell: 15, role: 'function', fn: 'predict' }
];

/** Index of the `train` cell in churn.ipynb. */
export const TRAIN_CELL = 10;

/** Index of the `predict` cell in churn.ipynb: the function to deploy. */
export const PREDICT_CELL = 15;

/** The train cell with one changed line: a second version of `train`. */
export const EDITED_TRAIN = [
  'model = LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced")',
  'model.fit(scaler.transform(X_train), y_train)',
  'coefficients = dict(zip(feature_names, model.coef_[0].round(3)))'
].join('\n');

export function sidebar(page: IJupyterLabPageFixture): Locator {
  return page.getByTestId('mlops-sidebar');
}

export function functionCard(page: IJupyterLabPageFixture, name: string): Locator {
  return sidebar(page).locator(`[data-testid="mlops-function"][data-name="${name}"]`);
}

export function paramInput(page: IJupyterLabPageFixture, fn: string, param: string): Locator {
  return functionCard(page, fn).locator(
    `[data-testid="mlops-param-input"][data-param="${param}"]`
  );
}

export function runRow(page: IJupyterLabPageFixture, runId: string): Locator {
  return sidebar(page).locator(`[data-testid="mlops-run-row"][data-run-id="${runId}"]`);
}

/** The badge on cell `index` (scrolls the windowed notebook to it first). */
export async function cellBadge(page: IJupyterLabPageFixture, index: number): Promise<Locator> {
  const cell = await page.notebook.getCellLocator(index);
  if (cell === null) {
    throw new Error(`cell ${index} of the notebook is not rendered`);
  }
  return cell.locator('.jp-mlops-cell-role');
}

/**
 * Upload a fresh churn.ipynb into the test's own folder (so no edit or autosave of one test
 * reaches another), open it, open the MLOps sidebar from its tab and wait until the parse
 * has listed the functions.
 */
export async function openChurn(page: IJupyterLabPageFixture, tmpPath: string): Promise<string> {
  const notebookPath = `${tmpPath}/${NOTEBOOK}`;
  await page.contents.uploadFile(EXAMPLE, notebookPath);
  expect(await page.notebook.openByPath(notebookPath)).toBe(true);
  await page.notebook.activate(NOTEBOOK);
  await openSidebar(page);
  for (const name of CHURN_FUNCTIONS) {
    await expect(functionCard(page, name)).toBeVisible();
  }
  return notebookPath;
}

/** Open the MLOps panel by clicking its tab in the left bar, as a user does. */
export async function openSidebar(page: IJupyterLabPageFixture): Promise<void> {
  await page.sidebar.openTab(SIDEBAR_ID);
  await expect(sidebar(page)).toBeVisible();
}

/** Type `value` into a parameter field, replacing what is there. */
export async function setParam(
  page: IJupyterLabPageFixture,
  fn: string,
  param: string,
  value: string
): Promise<void> {
  const input = paramInput(page, fn, param);
  await input.fill(value);
  await expect(input).toHaveValue(value);
}

function isRunSubmit(response: Response): boolean {
  const request = response.request();
  return (
    request.method() === 'POST' && new URL(response.url()).pathname.endsWith('/mlops/api/runs')
  );
}

export interface IStartedRun {
  id: string;
  version: string | null;
}

/**
 * Click Run on function `fn` (after setting `params`) and return the run the server queued,
 * read from the POST /mlops/api/runs answer so the spec can find exactly that row.
 */
export async function startRun(
  page: IJupyterLabPageFixture,
  fn: string,
  params: { [name: string]: string } = {}
): Promise<IStartedRun> {
  for (const [name, value] of Object.entries(params)) {
    await setParam(page, fn, name, value);
  }
  return submit(page, functionCard(page, fn).getByTestId('mlops-run-button'), fn);
}

/** Click "Run notebook" (every cell, the values as the form holds them now). */
export async function startNotebookRun(page: IJupyterLabPageFixture): Promise<IStartedRun> {
  return submit(page, sidebar(page).getByTestId('mlops-run-notebook'), null);
}

async function submit(
  page: IJupyterLabPageFixture,
  button: Locator,
  fn: string | null
): Promise<IStartedRun> {
  // The /check of the values just typed must pass before Run is offered.
  await expect(button).toBeEnabled();
  const submitted = page.waitForResponse(isRunSubmit, { timeout: 60_000 });
  await button.click();
  const response = await submitted;
  expect(response.status(), await response.text()).toBe(202);
  const run = (await response.json()) as { id: string; function: string | null; version: string | null };
  expect(run.function).toBe(fn);
  return { id: run.id, version: run.version };
}

/** Wait until the run's row in the Runs list shows `status` (default: succeeded). */
export async function waitForRun(
  page: IJupyterLabPageFixture,
  runId: string,
  status = 'succeeded'
): Promise<Locator> {
  const row = runRow(page, runId);
  await expect(row).toBeVisible({ timeout: 30_000 });
  await expect(row).toHaveAttribute('data-status', /^(queued|running|succeeded|failed|cancelled|interrupted)$/);
  await expect(row).toHaveAttribute('data-status', status, { timeout: RUN_TIMEOUT });
  return row;
}

/** Run the palette command `command` (found by its id, typed filter `query`). */
export async function runFromPalette(
  page: IJupyterLabPageFixture,
  command: string,
  query = 'MLOps'
): Promise<void> {
  await page.keyboard.press('Control+Shift+C');
  const palette = page.locator('#command-palette');
  const search = palette.locator('.lm-CommandPalette-input');
  await expect(search).toBeVisible();
  await search.fill(query);
  const item = palette.locator(`.lm-CommandPalette-item[data-command="${command}"]`);
  await expect(item).toBeVisible();
  await item.click();
}

/** Where a spec writes the README's screenshots: docs/images when asked, else the results. */
export function screenshotPath(name: string): string {
  if (process.env.MLOPS_UI_SCREENSHOTS === 'docs') {
    return path.resolve(__dirname, '..', '..', 'docs', 'images', name);
  }
  const results = process.env.MLOPS_UI_RESULTS ?? path.resolve(__dirname, '..', 'test-results');
  return path.join(results, 'screenshots', name);
}

// -- deployments ---------------------------------------------------------------------------

/** A first deploy loads the setup code and the model in a new process: seconds. */
export const DEPLOY_TIMEOUT = 120_000;

export function deploymentRow(page: IJupyterLabPageFixture, name: string): Locator {
  return sidebar(page).locator(`[data-testid="mlops-deployment-row"][data-name="${name}"]`);
}

export function deploymentDetails(page: IJupyterLabPageFixture, name: string): Locator {
  return sidebar(page).locator(`[data-testid="mlops-deployment-details"][data-name="${name}"]`);
}

export interface IDeployAnswer {
  status: number;
  body: {
    deployment?: { name: string; url: string; version: string; status: string };
    token?: string | null;
    message?: string;
  };
}

function isDeploySubmit(response: Response): boolean {
  const request = response.request();
  return (
    request.method() === 'POST' &&
    new URL(response.url()).pathname.endsWith('/mlops/api/deployments')
  );
}

/**
 * Do `action` (a click that deploys) and return the server's answer to the POST
 * /mlops/api/deployments it makes (a deploy waits until the version serves).
 */
export async function deployBy(
  page: IJupyterLabPageFixture,
  action: () => Promise<void>
): Promise<IDeployAnswer> {
  const answered = page.waitForResponse(isDeploySubmit, { timeout: DEPLOY_TIMEOUT });
  await action();
  const response = await answered;
  return { status: response.status(), body: await response.json() };
}

/** Click "Deploy this cell" on the first cell of a function; the server's answer. */
export async function deployFromCell(
  page: IJupyterLabPageFixture,
  cellIndex: number
): Promise<IDeployAnswer> {
  const cell = await page.notebook.getCellLocator(cellIndex);
  if (cell === null) {
    throw new Error(`cell ${cellIndex} of the notebook is not rendered`);
  }
  const button = cell.getByTestId('mlops-cell-deploy');
  await expect(button).toBeEnabled();
  return deployBy(page, () => button.click());
}

/** POST `body` to `<url>/invoke` with curl, as a client outside JupyterLab would. */
export function curlInvoke(
  url: string,
  token: string,
  body: string
): { status: number; json: { [name: string]: unknown } } {
  const out = execFileSync(
    'curl',
    [
      '-sS',
      '--max-time',
      '30',
      '-w',
      '\n%{http_code}',
      '-H',
      `Authorization: Bearer ${token}`,
      '-H',
      'Content-Type: application/json',
      '-d',
      body,
      `${url}/invoke`
    ],
    { encoding: 'utf-8' }
  );
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), json: JSON.parse(out.slice(0, at)) };
}

/** Stop every deployment still running: keepers outlive the server, the folder does not. */
export async function stopAllDeployments(request: APIRequestContext): Promise<void> {
  const listed = await request.get('mlops/api/deployments');
  if (!listed.ok()) {
    return;
  }
  const { deployments } = (await listed.json()) as {
    deployments: { name: string; desired: string }[];
  };
  for (const deployment of deployments) {
    if (deployment.desired === 'running') {
      await request.post(`mlops/api/deployments/${deployment.name}/stop`, { data: {} });
    }
  }
}
