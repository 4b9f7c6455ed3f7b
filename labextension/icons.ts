/**
 * The extension's icon: three steps of a pipeline, the last one fed by the first two.
 * `jp-icon3` makes it follow the theme's icon color.
 */
import { LabIcon } from '@jupyterlab/ui-components';

const MLOPS_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="1.5" y="3" width="7.5" height="6" rx="1.5"/>
    <rect x="1.5" y="15" width="7.5" height="6" rx="1.5"/>
    <rect x="15" y="9" width="7.5" height="6" rx="1.5"/>
  </g>
  <path class="jp-icon3" stroke="#616161" stroke-width="1.6" style="fill:none"
    d="M9 6h2a1.5 1.5 0 0 1 1.5 1.5v9a1.5 1.5 0 0 1-1.5 1.5H9M12.5 12H15"/>
</svg>`;

export const mlopsIcon = new LabIcon({ name: 'jupyter-mlops:icon', svgstr: MLOPS_SVG });
