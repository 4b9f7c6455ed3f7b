/**
 * Reading and writing the tags of notebook cells (the selected ones, or the active one),
 * in the cell metadata where the tag editor, papermill and nbconvert see them too.
 */
import { ICellModel } from '@jupyterlab/cells';
import { Notebook } from '@jupyterlab/notebook';

import { isRoleTag, roleTag, TaggableRole, withoutMLOpsTags, withRoleTag } from './tags';

export function cellTags(model: ICellModel): string[] {
  const tags = model.getMetadata('tags');
  return Array.isArray(tags) ? tags.filter((tag): tag is string => typeof tag === 'string') : [];
}

function setTags(model: ICellModel, tags: string[]): void {
  if (tags.length === 0) {
    model.deleteMetadata('tags');
  } else {
    model.setMetadata('tags', tags);
  }
}

/** The selected cells, or the active cell when no range is selected. */
export function targetCells(notebook: Notebook): ICellModel[] {
  const selected = notebook.widgets.filter(cell => notebook.isSelectedOrActive(cell));
  return selected.map(cell => cell.model);
}

/** Gives `cells` the role (replacing their role tags, keeping the rest). */
export function setRole(cells: readonly ICellModel[], role: TaggableRole, name?: string): void {
  const tag = roleTag(role, name);
  for (const model of cells) {
    setTags(model, withRoleTag(cellTags(model), tag));
  }
}

/** Removes every `mlops:` tag and role tag from `cells`, keeping the user's own tags. */
export function clearRoles(cells: readonly ICellModel[]): void {
  for (const model of cells) {
    setTags(model, withoutMLOpsTags(cellTags(model)));
  }
}

/** Whether the cell's own tags give it `role` (used to tick the menu item). */
export function hasRole(model: ICellModel, role: TaggableRole): boolean {
  const tags = cellTags(model).map(tag => tag.trim());
  switch (role) {
    case 'function':
      return tags.some(tag => tag.startsWith('mlops:fn:'));
    case 'parameters':
      return tags.includes('parameters');
    default:
      return tags.includes(`mlops:${role}`);
  }
}

/** The function the cell's own tag names (`mlops:fn:NAME`), if any. */
export function taggedFunction(model: ICellModel): string | null {
  const tag = cellTags(model).find(t => t.trim().startsWith('mlops:fn:'));
  return tag === undefined ? null : tag.trim().slice('mlops:fn:'.length);
}

export function hasAnyRole(model: ICellModel): boolean {
  return cellTags(model).some(tag => isRoleTag(tag) || tag.trim().startsWith('mlops:'));
}

/** The text of the nearest markdown heading above cell `index`, for naming a function. */
export function headingAbove(notebook: Notebook, index: number): string | null {
  for (let i = index - 1; i >= 0; i--) {
    const model = notebook.widgets[i]?.model;
    if (model?.type !== 'markdown') {
      continue;
    }
    const heading = /^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$/m.exec(model.sharedModel.getSource());
    if (heading) {
      return heading[1];
    }
  }
  return null;
}
