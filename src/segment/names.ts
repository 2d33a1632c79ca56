import { invalid } from '../errors.js';

/** macOS allows 31 characters including the leading slash. */
export const maxNameLength = 30;

export const nameRule = `1 to ${maxNameLength} characters from [A-Za-z0-9._-], not only dots`;

// A character loop rather than a regular expression: it sits on the attach path, where compiling a
// regex on first use cost tens of microseconds.
function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 46 || c === 95 || c === 45;
}

function isValid(name: string, max: number): boolean {
  if (name.length < 1 || name.length > max) return false;
  let onlyDots = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!isNameChar(c)) return false;
    if (c !== 46) onlyDots = false;
  }
  return !onlyDots;
}

/**
 * Throws EINVAL unless `name` is a valid segment name (without a leading slash). `max` is raised to
 * Linux's NAME_MAX (255) only to read segments other tools named (cute-shm's can be longer).
 */
export function validateName(name: unknown, what = 'segment name', max = maxNameLength): string {
  if (typeof name !== 'string') {
    throw invalid(`${what} must be a string (${nameRule}), got ${typeof name}`);
  }
  if (!isValid(name, max)) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}...` : name);
    const why = name.includes('/') ? ' ("/" is not allowed)' : name.length > max ? ` (${name.length} characters)` : '';
    const rule = max === maxNameLength ? nameRule : nameRule.replace(String(maxNameLength), String(max));
    throw invalid(`${what} ${shown} is not valid${why}: use ${rule}`, name);
  }
  return name;
}

/** Linux's NAME_MAX: the longest name /dev/shm allows (for segments other tools made). */
export const maxForeignNameLength = 255;
