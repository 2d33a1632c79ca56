import { invalid } from '../errors.js';

/** macOS allows 31 characters including the leading slash. */
export const maxNameLength = 30;

export const nameRule = `1 to ${maxNameLength} characters from [A-Za-z0-9._-], not only dots`;

// A character loop rather than a regular expression: it sits on the attach path, where compiling a
// regex on first use cost tens of microseconds.
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 45;
}

function isValid(name: string): boolean {
  if (name.length < 1 || name.length > maxNameLength) return false;
  let onlyDots = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!isNameChar(c)) return false;
    if (c !== 46) onlyDots = false;
  }
  return !onlyDots;
}

/** Throws EINVAL unless `name` is a valid segment name (without a leading slash). */
export function validateName(name: unknown, what = 'segment name'): string {
  if (typeof name !== 'string') {
    throw invalid(`${what} must be a string (${nameRule}), got ${typeof name}`);
  }
  if (!isValid(name)) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}...` : name);
    const why = name.includes('/') ? ' ("/" is not allowed)' : name.length > maxNameLength ? ` (${name.length} characters)` : '';
    throw invalid(`${what} ${shown} is not valid${why}: use ${nameRule}`, name);
  }
  return name;
}
