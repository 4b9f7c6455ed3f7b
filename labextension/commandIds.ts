/** The command ids of the extension (docs/ui contract): palette, menus, toolbars and tests use them. */
export namespace CommandIDs {
  export const openSidebar = 'jupyter-mlops:open-sidebar';
  export const runFunction = 'jupyter-mlops:run-function';
  export const runNotebook = 'jupyter-mlops:run-notebook';
  export const sweepFunction = 'jupyter-mlops:sweep-function';
  export const sweepNotebook = 'jupyter-mlops:sweep-notebook';
  /** Deploys a function (the active cell's, or `function`) as an HTTP endpoint. */
  export const deployFunction = 'jupyter-mlops:deploy-cell';
  export const tagFunction = 'jupyter-mlops:tag-function';
  export const tagSetup = 'jupyter-mlops:tag-setup';
  export const tagSkip = 'jupyter-mlops:tag-skip';
  export const tagMetrics = 'jupyter-mlops:tag-metrics';
  export const tagParameters = 'jupyter-mlops:tag-parameters';
  export const clearTags = 'jupyter-mlops:clear-tags';
  export const refresh = 'jupyter-mlops:refresh';
  /** Opens the tag menu; the cell toolbar's button runs it. */
  export const tagMenu = 'jupyter-mlops:tag-menu';
}
