import { invalid } from '../errors.js';

/** macOS allows 31 characters including the leading slash. */
export const maxNameLength = 30;

const namePattern = /^[A-Za-z0-9._-]{1,30}$/;

export const nameRule = `1 to ${maxNameLength} characters from [A-Za-z0-9._-], not only dots`;

/** Throws EINVAL unless `name` is a valid segment name (without a leading slash). */
export function validateName(name: unknown, what = 'segment name'): string {
  if (typeof name !== 'string') {
    throw invalid(`${what} must be a string (${nameRule}), got ${typeof name}`);
  }
  if (!namePattern.test(name) || /^\.+$/.test(name)) {
    const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}...` : name);
    const why = name.includes('/') ? ' ("/" is not allowed)' : name.length > maxNameLength ? ` (${name.length} characters)` : '';
    throw invalid(`${what} ${shown} is not valid${why}: use ${nameRule}`, name);
  }
  return name;
}
