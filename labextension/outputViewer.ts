/**
 * The output viewer: a run's executed notebook, rendered by the server as HTML, in a
 * main-area tab. The server serves that HTML with a sandboxing CSP, so an iframe is safe.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { IFrame } from '@jupyterlab/ui-components';

import { api } from './api';

/** Opens (or brings forward) the tab showing the output notebook of run `runId`. */
export function openOutput(app: JupyterFrontEnd, runId: string): void {
  const id = `mlops-output-${runId}`;
  for (const widget of app.shell.widgets('main')) {
    if (widget.id === id) {
      app.shell.activateById(id);
      return;
    }
  }
  // Same-origin scripts are not needed: the page is static HTML rendered by nbconvert.
  const frame = new IFrame({ sandbox: ['allow-popups'] });
  frame.url = api.outputURL(runId, 'html');
  frame.node.querySelector('iframe')?.setAttribute('data-testid', 'mlops-output-frame');
  frame.addClass('jp-mlops-output-frame');
  const widget = new MainAreaWidget({ content: frame });
  widget.id = id;
  widget.title.label = `run ${runId.slice(0, 8)}`;
  widget.title.caption = `Output notebook of run ${runId}`;
  widget.title.closable = true;
  app.shell.add(widget, 'main');
  app.shell.activateById(id);
}
