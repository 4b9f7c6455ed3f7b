/**
 * The loop in the sidebar: a run of `retrain` promoted to `production` from the Versions
 * section through a gate (each clause shown; a failing gate moves nothing), a deployment
 * of `rescore` following `production`, a retraining policy set from its details, and the
 * timeline showing what the server's loop then did: policy → run → gate → promote → redeploy.
 */
import { expect, test } from '@jupyterlab/galata';
import { APIRequestContext } from '@playwright/test';

import {
  deploymentDetails,
  deploymentRow,
  openSidebar,
  RUN_TIMEOUT,
  sidebar,
  stopAllDeployments
} from './mlops';

const NAME = 'loop-ui';

function cell(source: string, tags: string[]): object {
  return { cell_type: 'code', execution_count: null, metadata: { tags }, outputs: [], source };
}

const NOTEBOOK = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
    language_info: { name: 'python' }
  },
  cells: [
    cell('w: float = 2.0\nx: float = 1.0', ['parameters']),
    cell('weight = w\naccuracy = 0.5 + w / 100', ['mlops:fn:retrain', 'mlops:metrics']),
    cell('score = weight * x', ['mlops:fn:rescore'])
  ].map((c, i) => ({ ...c, id: `cell-${i}` }))
};

async function trained(request: APIRequestContext, path: string, w: string): Promise<string> {
  const started = await request.post('mlops/api/runs', {
    data: { path, function: 'retrain', parameters: { w } }
  });
  expect(started.status(), await started.text()).toBe(202);
  const { id } = (await started.json()) as { id: string };
  await expect(async () => {
    const run = (await (await request.get(`mlops/api/runs/${id}`)).json()) as { status: string };
    expect(run.status).toBe('succeeded');
  }).toPass({ timeout: RUN_TIMEOUT });
  return id;
}

test.afterEach(async ({ request }) => {
  await request.delete(`mlops/api/deployments/${NAME}/policy`, { data: {} });
  await stopAllDeployments(request);
});

test('promote through a gate, follow the alias, set a policy and watch the loop run', async ({
  page,
  request,
  tmpPath
}) => {
  const path = `${tmpPath}/loop.ipynb`;
  await page.contents.uploadContent(JSON.stringify(NOTEBOOK), 'text', path);
  const champion = await trained(request, path, '2.0');
  const better = await trained(request, path, '4.0');
  expect(await page.notebook.openByPath(path)).toBe(true);
  await openSidebar(page);

  // Promote: the first run becomes production (no champion: the gate passes, saying so).
  const versions = sidebar(page).getByTestId('mlops-versions');
  await versions.scrollIntoViewIfNeeded();
  await versions.getByTestId('mlops-versions-function').selectOption('retrain');
  const form = versions.getByTestId('mlops-promote-form');
  await form.getByTestId('mlops-promote-alias').fill('production');
  await form.getByTestId('mlops-promote-run').fill(champion);
  await form.getByTestId('mlops-promote-button').click();
  const outcome = form.getByTestId('mlops-promotion');
  await expect(outcome).toHaveAttribute('data-moved', 'true');

  // A gate the better run cannot pass: each clause shown, nothing moves.
  await form.getByTestId('mlops-promote-run').fill(better);
  await form.getByTestId('mlops-promote-gate').fill('accuracy >= production + 1');
  await form.getByTestId('mlops-promote-button').click();
  await expect(outcome).toHaveAttribute('data-passed', 'false');
  const clause = outcome.getByTestId('mlops-gate-clause');
  await expect(clause).toHaveAttribute('data-passed', 'false');
  await expect(clause).toContainText('accuracy');
  await expect(clause).toContainText('0.54'); // this run's accuracy
  await expect(clause).toContainText('1.52'); // the champion's 0.52, plus 1
  // A gate that does not parse is said inline, naming where.
  await form.getByTestId('mlops-promote-gate').fill('accuracy >>= 1');
  await form.getByTestId('mlops-promote-button').click();
  await expect(form.getByTestId('mlops-promote-error')).toContainText('expected METRIC OP');

  // A deployment of rescore following production. (Function names of their own: versions
  // are kept per function name, and other specs count the versions of `train`.)
  const deployed = await request.post('mlops/api/deployments', {
    data: { path, function: 'rescore', name: NAME, follow: 'production' }
  });
  expect(deployed.status(), await deployed.text()).toBe(201);
  await deploymentRow(page, NAME).click();
  const details = deploymentDetails(page, NAME);
  await expect(details).toBeVisible();
  await expect(details.getByTestId('mlops-timeline-empty')).toBeVisible();

  // The policy form: a bad gate is refused by name; a good one is stored.
  const policy = details.getByTestId('mlops-policy');
  await expect(policy).toHaveAttribute('data-stored', 'false');
  await expect(policy.getByTestId('mlops-policy-notebook')).toHaveValue(/loop\.ipynb$/);
  await policy.getByTestId('mlops-policy-function').fill('retrain');
  await policy.getByTestId('mlops-policy-gate').fill('accuracy >');
  await policy.getByTestId('mlops-policy-save').click();
  await expect(policy.getByTestId('mlops-policy-error')).toContainText('gate');
  await policy.getByTestId('mlops-policy-gate').fill('accuracy >= production');
  await policy.getByTestId('mlops-policy-schedule').fill('1s');
  await policy.getByTestId('mlops-policy-save').click();
  await expect(policy).toHaveAttribute('data-stored', 'true');
  const stored = (await (await request.get(`mlops/api/deployments/${NAME}/policy`)).json()) as {
    function: string;
    gate: string;
    schedule: number;
  };
  expect(stored).toMatchObject({
    function: 'retrain',
    gate: 'accuracy >= production',
    schedule: 1
  });

  // The server's loop fires on the schedule: the timeline shows each step with its ids.
  const timeline = details.getByTestId('mlops-timeline');
  await expect(
    timeline.locator('[data-testid="mlops-timeline-event"][data-kind="redeploy"]')
  ).toHaveCount(1, { timeout: RUN_TIMEOUT });
  const kinds = await timeline
    .getByTestId('mlops-timeline-event')
    .evaluateAll(items => items.map(item => item.getAttribute('data-kind')));
  expect(kinds.slice(0, 5)).toEqual(['policy', 'run', 'gate', 'promote', 'redeploy']);
});
