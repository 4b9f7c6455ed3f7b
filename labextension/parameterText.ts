/**
 * Parameter values as text, the way a form shows them and the server reads them (like the
 * CLI's `-p NAME VALUE`: a str is taken as typed, a bool as True/False, others as literals).
 */
import type { IParameter, JSONValue } from './api';

/** Whether the parameter's type reads its text verbatim (str, str | None, Literal of str). */
export function isTextual(param: IParameter): boolean {
  const type = param.type.replace(/\s*\|\s*None$/, '');
  return type === 'str' || (type.startsWith('Literal[') && typeof param.default === 'string');
}

/** The default value as the text a user would type to get it back. */
export function defaultText(param: IParameter): string {
  return valueText(param, param.default);
}

/** A value of the parameter as text. */
export function valueText(param: IParameter, value: JSONValue): string {
  if (value === null) {
    return 'None';
  }
  if (typeof value === 'string') {
    return isTextual(param) ? value : JSON.stringify(value);
  }
  if (typeof value === 'boolean') {
    return value ? 'True' : 'False';
  }
  if (typeof value === 'number') {
    // JSON drops the ".0" of a float; keep it so the text reads as the float it is.
    return Number.isInteger(value) && param.type.startsWith('float')
      ? value.toFixed(1)
      : String(value);
  }
  return JSON.stringify(value);
}

/** Splits "0.1, 1, 10" into candidate values for a sweep; quoted items keep their commas. */
export function splitValues(text: string): string[] {
  const values: string[] = [];
  let current = '';
  let quote: string | null = null;
  let depth = 0;
  for (const char of text) {
    if (quote !== null) {
      current += char;
      if (char === quote) {
        quote = null;
      }
    } else if (char === '"' || char === "'") {
      quote = char;
      current += char;
    } else if (char === '[' || char === '{' || char === '(') {
      depth++;
      current += char;
    } else if (char === ']' || char === '}' || char === ')') {
      depth--;
      current += char;
    } else if (char === ',' && depth === 0) {
      values.push(current.trim());
      current = '';
    } else {
      current += char;
    }
  }
  values.push(current.trim());
  return values.filter(value => value.length > 0);
}

/** A sweep candidate for a str parameter may be quoted to hold a comma: `"a, b"` -> `a, b`. */
export function candidateText(param: IParameter, item: string): string {
  const quoted = /^(["'])(.*)\1$/s.exec(item);
  return quoted && isTextual(param) ? quoted[2] : item;
}
