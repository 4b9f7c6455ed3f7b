/**
 * Galata against a real JupyterLab (started by `jlpm start`) in the system Chromium.
 *
 * Playwright may not download browsers or ffmpeg here, so the browser is /usr/bin/chromium
 * (MLOPS_UI_CHROMIUM overrides it) and video recording is off. One worker: the machine is
 * small and every test starts real runs on the same server. Galata's base config is not
 * spread in: every field of it is set here.
 */
import { defineConfig } from '@playwright/test';
import * as path from 'path';

const port = process.env.MLOPS_UI_PORT ?? '8899';
const url = `http://localhost:${port}`;
// Traces, the JSON report and screenshots of one run; tests/test_ui.py gives each pytest run
// its own folder, so two runs at once cannot wipe each other's files.
const results = process.env.MLOPS_UI_RESULTS ?? path.join(__dirname, 'test-results');

export default defineConfig({
  testDir: './tests',
  outputDir: results,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  // A first run of `train` also runs load_data and prepare (~20 s on 2 busy cores).
  timeout: 240_000,
  expect: { timeout: 30_000 },
  reportSlowTests: null,
  reporter: [['list'], ['json', { outputFile: path.join(results, 'results.json') }]],
  use: {
    baseURL: url,
    video: 'off',
    trace: 'retain-on-failure',
    viewport: { width: 1400, height: 900 },
    launchOptions: {
      executablePath: process.env.MLOPS_UI_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    command: 'jlpm start',
    url: `${url}/lab`,
    timeout: 120_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe'
  }
});
