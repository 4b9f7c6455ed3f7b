/**
 * Runs from the sidebar: a wrong value is refused before anything runs, a good one runs to
 * `succeeded` with its output notebook one click away, and two runs compare side by side
 * with the parameter that differs marked.
 */
import { expect, test } from '@jupyterlab/galata';

import { functionCard, openChurn, runRow, setParam, sidebar, startRun, waitForRun } from './mlops';

test.describe('runs', () => {
  test('a wrong value is shown and blocks Run; a good one runs train to succeeded', async ({
    page,
    tmpPath
  }) => {
    await openChurn(page, tmpPath);
    const train = functionCard(page, 'train');
    const runButton = train.getByTestId('mlops-run-button');

    // Given a value that is not a float
    await setParam(page, 'train', 'C', 'abc');
    // Then the server's check names the field and Run is off.
    const error = train.locator('[data-testid="mlops-param-error"][data-param="C"]');
    await expect(error).toBeVisible();
    await expect(error).not.toBeEmpty();
    await expect(runButton).toBeDisabled();

    // When it is fixed, the error goes and Run comes back.
    await setParam(page, 'train', 'C', '0.5');
    await expect(train.getByTestId('mlops-param-error')).toHaveCount(0);
    await expect(runButton).toBeEnabled();

    const run = await startRun(page, 'train');
    const row = await waitForRun(page, run.id);
    await expect(row.getByTestId('mlops-run-status')).toContainText(/succeeded/i);

    // The server recorded what was typed, typed as the declared float.
    const recorded = await page.request.get(`mlops/api/runs/${run.id}`);
    expect(recorded.status()).toBe(200);
    const body = (await recorded.json()) as { parameters: { [name: string]: unknown } };
    expect(body.parameters['C']).toBe(0.5);

    // The output notebook opens in a main-area tab, rendered by the server.
    await row.getByTestId('mlops-run-open').click();
    const viewer = page.locator(`#mlops-output-${run.id}`);
    await expect(viewer).toBeVisible();
    const frame = viewer.getByTestId('mlops-output-frame');
    await expect(frame).toHaveAttribute('src', new RegExp(`/mlops/api/runs/${run.id}/notebook\\?format=html`));
    // The executed train cell is in the page (its code, as papermill ran it).
    await expect(
      page.frameLocator(`#mlops-output-${run.id} [data-testid="mlops-output-frame"]`).locator('body')
    ).toContainText('LogisticRegression', { timeout: 60_000 });
  });

  test('two runs of train with another C compare with C marked as differing', async ({
    page,
    tmpPath
  }) => {
    await openChurn(page, tmpPath);

    const first = await startRun(page, 'train', { C: '0.5' });
    await waitForRun(page, first.id);
    const second = await startRun(page, 'train', { C: '2.0' });
    await waitForRun(page, second.id);

    const compare = sidebar(page).getByTestId('mlops-compare-button');
    await expect(compare).toBeDisabled();
    await runRow(page, first.id).getByTestId('mlops-run-select').check();
    await expect(compare).toBeDisabled(); // one run is nothing to compare
    await runRow(page, second.id).getByTestId('mlops-run-select').check();
    await expect(compare).toBeEnabled();
    await compare.click();

    const view = sidebar(page).getByTestId('mlops-compare');
    await expect(view).toBeVisible();
    const cParam = view.locator('[data-testid="mlops-compare-param"][data-name="C"]');
    await expect(cParam).toBeVisible();
    await expect(cParam).toContainText('0.5');
    await expect(cParam).toContainText('2');
    await expect(cParam.locator('.jp-mlops-differs')).not.toHaveCount(0);
    // max_iter was the same in both runs: not marked.
    const maxIter = view.locator('[data-testid="mlops-compare-param"][data-name="max_iter"]');
    await expect(maxIter).toBeVisible();
    await expect(maxIter.locator('.jp-mlops-differs')).toHaveCount(0);
  });

  test('a run started elsewhere (not by this sidebar) shows up in the list by itself', async ({
    page,
    tmpPath
  }) => {
    const notebookPath = await openChurn(page, tmpPath);
    await expect(sidebar(page).getByTestId('mlops-run-count')).toBeVisible();

    // As the CLI or a magic would: straight to the server, no storeChanged in this page.
    const started = await page.evaluate(async path => {
      const settings = window.jupyterapp.serviceManager.serverSettings;
      const response = await fetch(`${settings.baseUrl}mlops/api/runs`, {
        method: 'POST',
        headers: { Authorization: `token ${settings.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ path, function: 'load_data' })
      });
      return { status: response.status, body: (await response.json()) as { id: string } };
    }, notebookPath);
    expect(started.status).toBe(202);

    // The idle poll (every 10 s) finds it; then the live poll follows it to the end.
    await waitForRun(page, started.body.id);
  });
});
