"""The scripts ``bench/ui.py`` runs in the page: its clock, the watches, the scroller."""

from __future__ import annotations

import json

RUN_ROW = '[data-testid="mlops-run-row"]'

# Runs in every page before JupyterLab: keeps the resource timings of the calls we measure
# (an observer, so the 250-entry buffer that JupyterLab's own files fill cannot drop them),
# and notes when the first run row is attached to the DOM, shown or not: the sidebar renders
# its lists while its panel is still hidden.
INIT_SCRIPT = """
window.__uiBench = { entries: [], rowsAttached: null, longTasks: [] };
new PerformanceObserver(list => {
  for (const task of list.getEntries()) {
    window.__uiBench.longTasks.push([task.startTime, task.startTime + task.duration]);
  }
}).observe({ type: 'longtask', buffered: true });
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    if (entry.name.includes('/mlops/api/runs') || entry.name.includes('/api/contents/')) {
      window.__uiBench.entries.push(
        { name: entry.name, fetchStart: entry.fetchStart, responseEnd: entry.responseEnd });
    }
  }
}).observe({ type: 'resource', buffered: true });
const rowsObserver = new MutationObserver(() => {
  if (document.querySelector(__RUN_ROW__) !== null) {
    window.__uiBench.rowsAttached = performance.now();
    rowsObserver.disconnect();
  }
});
rowsObserver.observe(document, { childList: true, subtree: true });
""".replace("__RUN_ROW__", json.dumps(RUN_ROW))


# Arms a watch: the time of the next `trigger` input event, then the first moment the first
# element matching `selector` is visible and its text starts with `text` (one
# querySelector per mutation batch, so the
# watch adds no per-row cost to a page building 10,000 rows), then the frame after.
ARM_WATCH = """
({ trigger, selector, text }) => {
  const shown = () => {
    const node = document.querySelector(selector);
    return node !== null && node.checkVisibility() && node.textContent.startsWith(text);
  };
  const watch = { input: null, dom: null, painted: null, already: shown() };
  window.__uiBench.watch = watch;
  document.addEventListener(trigger, () => {
    if (watch.input === null) { watch.input = performance.now(); }
  }, { capture: true, once: true });
  const observer = new MutationObserver(() => {
    if (watch.dom === null && shown()) {
      watch.dom = performance.now();
      observer.disconnect();
      requestAnimationFrame(() => setTimeout(() => { watch.painted = performance.now(); }, 0));
    }
  });
  observer.observe(document.body, { childList: true, subtree: true, attributes: true });
  return watch.already;
}
"""


# Scrolls the run list through what is loaded, `step` pixels a frame, recording every
# frame's duration; then waits for the list to grow (the next page rendered).
SCROLL = """
async ({ selector, step }) => {
  const list = document.querySelector(selector);
  const spacer = list.firstElementChild;
  const loaded = spacer.offsetHeight;
  const bottom = loaded - list.clientHeight;
  if (bottom <= 0) { throw new Error(`the run list does not scroll (${loaded} px of rows)`); }
  const result = { frames: [], start: performance.now(), bottom: null, grown: null,
                   loadedPx: loaded };
  const observer = new MutationObserver(() => {
    if (result.grown === null && spacer.offsetHeight > loaded) { result.grown = performance.now(); }
  });
  observer.observe(spacer, { attributes: true, childList: true });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no next page within 30 s')), 30000);
    let last = null;
    const frame = now => {
      if (last !== null && result.bottom === null) { result.frames.push(now - last); }
      last = now;
      if (result.bottom === null) {
        list.scrollTop = Math.min(bottom, list.scrollTop + step);
        if (list.scrollTop >= bottom - 1) { result.bottom = performance.now(); }
      }
      if (result.bottom !== null && result.grown !== null) {
        clearTimeout(timer); observer.disconnect(); resolve(null);
      } else {
        requestAnimationFrame(frame);
      }
    };
    requestAnimationFrame(frame);
  });
  return result;
}
"""
