/**
 * Writing the cell tags the parser reads (jupyter_mlops/notebook/tags.py, DESIGN.md):
 * `mlops:fn:NAME`, `mlops:setup`, `mlops:skip`, `mlops:metrics` and papermill's `parameters`.
 *
 * A cell has one role, so setting a role replaces any role tag it had, in our grammar or in
 * a peer's (Kale, MLRun), and keeps every other tag: the user's own, and the option tags
 * (`mlops:after:…`, `mlops:image:…`) that qualify a role rather than being one.
 */

export type TaggableRole = 'function' | 'setup' | 'skip' | 'metrics' | 'parameters';

const OUR_ROLE_TAGS = new Set(['mlops:setup', 'mlops:skip', 'mlops:metrics']);
const PEER_ROLE_TAGS = new Set([
  'parameters',
  'pipeline-parameters',
  'imports',
  'functions',
  'skip',
  'mlrun-ignore',
  'nuclio-ignore',
  'pipeline-metrics'
]);
const ROLE_PREFIXES = ['mlops:fn:', 'step:', 'block:'];

/** What the parser accepts after `mlops:fn:` (no spaces, ':', '/' or '\'). */
const FUNCTION_NAME = /^[^\s:/\\]+$/;

/** Whether `tag` gives a cell a role (as opposed to an option or the user's own tag). */
export function isRoleTag(tag: string): boolean {
  const trimmed = tag.trim();
  return (
    OUR_ROLE_TAGS.has(trimmed) ||
    PEER_ROLE_TAGS.has(trimmed) ||
    ROLE_PREFIXES.some(prefix => trimmed.startsWith(prefix))
  );
}

/** The tag for a role; `name` is the function's name for role 'function'. */
export function roleTag(role: TaggableRole, name?: string): string {
  switch (role) {
    case 'function':
      if (name === undefined || !isValidFunctionName(name)) {
        throw new Error(`"${name ?? ''}" is not a function name: no spaces, ':', '/' or '\\'`);
      }
      return `mlops:fn:${name}`;
    case 'parameters':
      return 'parameters';
    default:
      return `mlops:${role}`;
  }
}

/** `tags` with its role tags replaced by `tag` (or removed, when `tag` is null). */
export function withRoleTag(tags: readonly string[], tag: string | null): string[] {
  const kept = tags.filter(existing => !isRoleTag(existing));
  return tag === null ? kept : [...kept, tag];
}

/** `tags` without any `mlops:` tag nor role tag: what "clear tags" leaves. */
export function withoutMLOpsTags(tags: readonly string[]): string[] {
  return tags.filter(tag => !isRoleTag(tag) && !tag.trim().startsWith('mlops:'));
}

export function isValidFunctionName(name: string): boolean {
  return FUNCTION_NAME.test(name);
}

/**
 * A function name to suggest for a cell, as a Python identifier not in `taken`: from the
 * markdown heading above the cell ("## Train the model" gives `train_the_model`), else from
 * the first name its code assigns (`model = …` gives `make_model`), else `step`.
 */
export function suggestFunctionName(
  hint: { heading: string | null; source: string },
  taken: readonly string[]
): string {
  const assigned = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=\n]*)?=(?!=)/m.exec(hint.source);
  const fromHeading = hint.heading ? toIdentifier(hint.heading) : '';
  const base = fromHeading || (assigned ? `make_${assigned[1]}` : 'step');
  if (!taken.includes(base)) {
    return base;
  }
  let counter = 2;
  while (taken.includes(`${base}_${counter}`)) {
    counter++;
  }
  return `${base}_${counter}`;
}

/** "Load the customers!" -> "load_the_customers"; '' when nothing usable is left. */
function toIdentifier(text: string): string {
  const words = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter(word => word.length > 0)
    .slice(0, 4);
  const joined = words.join('_');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined;
}
