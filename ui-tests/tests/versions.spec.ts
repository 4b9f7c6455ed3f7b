/**
 * Versions: editing a function's code and running it again makes a second version; the
 * sidebar lists both, diffs them line by line, and moves an alias onto one.
 */
import { expect, test } from '@jupyterlab/galata';

import { EDITED_TRAIN, TRAIN_CELL, functionCard, openChurn, sidebar, startRun, waitForRun } from './mlops';

test.describe('versions', () => {
  test('an edited train is a second version: listed, diffed, and given an alias', async ({
    page,
    tmpPath
  }) => {
    await openChurn(page, tmpPath);

    // Given a run of train as written
    const before = await startRun(page, 'train');
    await waitForRun(page, before.id);
    expect(before.version).toBeTruthy();

    // When the train cell changes (unsaved) and train runs again
    expect(await page.notebook.setCell(TRAIN_CELL, 'code', EDITED_TRAIN)).toBe(true);
    // The sidebar re-parses the live notebook: the short version on the card changes.
    const oldShort = before.version!.slice(0, 8);
    await expect(functionCard(page, 'train')).not.toContainText(oldShort);
    const after = await startRun(page, 'train');
    await waitForRun(page, after.id);
    expect(after.version).toBeTruthy();
    expect(after.version).not.toBe(before.version);

    // Then Versions lists both
    const versions = sidebar(page).getByTestId('mlops-versions');
    await versions.scrollIntoViewIfNeeded();
    await versions.getByTestId('mlops-versions-function').selectOption('train');
    const row = (version: string) =>
      versions.locator(`[data-testid="mlops-version-row"][data-version^="${version.slice(0, 12)}"]`);
    await expect(row(before.version!)).toHaveCount(1);
    await expect(row(after.version!)).toHaveCount(1);
    await expect(versions.getByTestId('mlops-version-row')).toHaveCount(2);

    // and the diff of the two shows the changed line removed and added.
    await row(before.version!).getByTestId('mlops-version-select').check();
    await row(after.version!).getByTestId('mlops-version-select').check();
    await versions.getByTestId('mlops-diff-button').click();
    const diff = sidebar(page).getByTestId('mlops-diff');
    await expect(diff).toBeVisible();
    await expect(diff.locator('.jp-mlops-diff-del')).toContainText([
      'LogisticRegression(C=C, max_iter=max_iter)'
    ]);
    await expect(diff.locator('.jp-mlops-diff-add')).toContainText([
      'class_weight="balanced"'
    ]);
    // Unchanged lines are neither added nor removed.
    await expect(diff.locator('.jp-mlops-diff-add, .jp-mlops-diff-del')).not.toContainText([
      'model.fit('
    ]);
    await diff.getByTestId('mlops-diff-close').click();

    // Moving `production` onto the first version (the one selected) shows its chip there only.
    await row(after.version!).getByTestId('mlops-version-select').uncheck();
    await expect(row(before.version!).getByTestId('mlops-version-select')).toBeChecked();
    await versions.getByTestId('mlops-alias-input').fill('production');
    await versions.getByTestId('mlops-alias-button').click();
    await expect(
      row(before.version!).getByTestId('mlops-version-alias').filter({ hasText: 'production' })
    ).toBeVisible();
    await expect(
      row(after.version!).getByTestId('mlops-version-alias').filter({ hasText: 'production' })
    ).toHaveCount(0);

    // The server agrees.
    const listed = await page.request.get('mlops/api/functions/train/versions');
    const body = (await listed.json()) as { versions: { version: string; aliases: string[] }[] };
    const production = body.versions.filter(v => v.aliases.includes('production'));
    expect(production.map(v => v.version)).toEqual([before.version]);
  });
});
