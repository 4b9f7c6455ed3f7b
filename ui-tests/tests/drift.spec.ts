/**
 * The Lineage and Drift views of a deployment: a notebook whose training logs a reference, its predict
 * deployed over REST and fed traffic whose `tenure` moved by a standard deviation. The
 * deployment's details show each request field, `tenure` drifted and `plan` stable, with the
 * reference and current histograms drawn; the Lineage view shows the training run it is bound
 * to and the CSV file that run read, with its sha256.
 */
import { expect, test } from '@jupyterlab/galata';
import { APIRequestContext } from '@playwright/test';

import {
  deploymentDetails,
  deploymentRow,
  openSidebar,
  RUN_TIMEOUT,
  screenshotPath,
  stopAllDeployments
} from './mlops';

const NAME = 'drift-ui';
const PLANS = ['basic', 'pro', 'team'];

function cell(source: string, tag: string): object {
  return {
    cell_type: 'code',
    execution_count: null,
    metadata: { tags: [tag] },
    outputs: [],
    source
  };
}

const NOTEBOOK = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
    language_info: { name: 'python' }
  },
  cells: [
    cell('tenure: float = 20.0\nplan: str = "basic"', 'parameters'),
    cell('import random\nfrom jupyter_mlops import log_input, log_reference', 'mlops:setup'),
    cell(
      [
        'rng = random.Random(0)',
        "rows = {'tenure': [rng.gauss(20, 5) for _ in range(3000)],",
        "        'plan': [rng.choice(['basic', 'pro', 'team']) for _ in range(3000)]}",
        "with open('customers.csv', 'w') as handle:",
        "    handle.write('tenure,plan\\n' + '\\n'.join(f'{t},{p}' for t, p in zip(rows['tenure'], rows['plan'])))",
        "log_input('customers.csv')",
        'log_reference(rows)',
        'weight = 0.1'
      ].join('\n'),
      'mlops:fn:fit'
    ),
    cell("score = weight * tenure + (1.0 if plan == 'pro' else 0.0)", 'mlops:fn:predict')
  ].map((c, i) => ({ ...c, id: `cell-${i}` }))
};

/** A normal draw (Box–Muller), so the traffic is shaped like the training rows. */
function gauss(mean: number, sd: number): number {
  const u = 1 - Math.random();
  const v = Math.random();
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

async function finished(request: APIRequestContext, id: string): Promise<string> {
  let status = 'queued';
  await expect(async () => {
    status = ((await (await request.get(`mlops/api/runs/${id}`)).json()) as { status: string })
      .status;
    expect(['queued', 'running']).not.toContain(status);
  }).toPass({ timeout: RUN_TIMEOUT });
  return status;
}

test.afterEach(async ({ request }) => {
  await stopAllDeployments(request);
});

test('lineage shows the bound run and its data set; drift the drifted field beside the stable one', async ({
  page,
  request,
  tmpPath
}) => {
  const path = `${tmpPath}/score.ipynb`;
  await page.contents.uploadContent(JSON.stringify(NOTEBOOK), 'text', path);
  const started = await request.post('mlops/api/runs', { data: { path } });
  expect(started.status(), await started.text()).toBe(202);
  const run = (await started.json()) as { id: string };
  expect(await finished(request, run.id)).toBe('succeeded');

  const deployed = await request.post('mlops/api/deployments', {
    data: { path, function: 'predict', name: NAME }
  });
  expect(deployed.status(), await deployed.text()).toBe(201);
  const { deployment, token } = (await deployed.json()) as {
    deployment: { url: string };
    token: string;
  };

  // Traffic whose tenure moved by one standard deviation; plan as in training.
  for (let i = 0; i < 450; i++) {
    const answer = await request.post(`${deployment.url}/invoke`, {
      headers: { Authorization: `Bearer ${token}` },
      data: { tenure: gauss(25, 5), plan: PLANS[i % 3] }
    });
    expect(answer.status()).toBe(200);
  }

  await openSidebar(page);
  await deploymentRow(page, NAME).click();
  const details = deploymentDetails(page, NAME);
  await expect(details).toBeVisible();
  // Lineage: the run predict's values come from, and the file it read.
  const lineage = details.getByTestId('mlops-lineage');
  await expect(lineage.getByTestId('mlops-lineage-run')).toHaveCount(1);
  await expect(lineage.getByTestId('mlops-lineage-run')).toHaveAttribute('data-run-id', run.id);
  const dataset = lineage.getByTestId('mlops-lineage-dataset');
  await expect(dataset).toHaveAttribute('data-name', 'customers.csv');
  await expect(dataset).toHaveAttribute('data-sha256', /^[0-9a-f]{64}$/);

  const drift = details.getByTestId('mlops-drift');
  await expect(drift).toBeVisible({ timeout: 60_000 });
  const tenure = drift.locator('[data-testid="mlops-drift-field"][data-field="tenure"]');
  const plan = drift.locator('[data-testid="mlops-drift-field"][data-field="plan"]');
  await expect(tenure).toHaveAttribute('data-drifted', 'true', { timeout: 60_000 });
  await expect(plan).toHaveAttribute('data-drifted', 'false');
  // The statistic over time: one dot per judged window, against its threshold.
  await expect(tenure.getByTestId('mlops-drift-over-time').locator('circle')).not.toHaveCount(0);
  // Reference and current bars: one pair per bin (20 quantile bins; 3 plans and "other").
  await expect(tenure.getByTestId('mlops-drift-histogram').locator('rect')).toHaveCount(40);
  await expect(plan.getByTestId('mlops-drift-histogram').locator('rect')).toHaveCount(8);
  // No predictions were logged in training: the first 200 answers became their reference,
  // and the prediction is listed first, marked as one.
  const prediction = drift.locator('[data-testid="mlops-drift-field"][data-role="prediction"]');
  await expect(prediction).toHaveCount(1, { timeout: 60_000 });
  await expect(prediction).toHaveAttribute('data-field', 'prediction.score');
  // The README's picture of the Drift view (docs/images/ under `MLOPS_UI_SCREENSHOTS=docs`).
  await drift.screenshot({ path: screenshotPath('drift-view.png') });
});
