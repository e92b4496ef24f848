// Light and dark themes: by default the system's (prefers-color-scheme); a choice made with the
// toggle is remembered in localStorage. Either way the theme shown is set as
// <html data-theme="light|dark">, so styles.css defines the dark colours once, for that attribute.
export type ThemeChoice = 'auto' | 'light' | 'dark';

const THEME_KEY = 'sappers.theme';

export function loadTheme(): ThemeChoice {
  try {
    const v = localStorage.getItem(THEME_KEY);
    return v === 'light' || v === 'dark' ? v : 'auto';
  } catch {
    return 'auto';
  }
}

export function applyTheme(choice: ThemeChoice): void {
  document.documentElement.dataset['theme'] = effectiveTheme(choice);
  try {
    if (choice === 'auto') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, choice);
  } catch {
    // Not remembered; still applied.
  }
}

/** Keeps the page in step with the system's theme while the remembered choice is 'auto'. */
export function followSystemTheme(): void {
  window.matchMedia(SYSTEM_DARK).addEventListener('change', () => {
    if (loadTheme() === 'auto') document.documentElement.dataset['theme'] = systemTheme();
  });
}

/** The theme shown now: the choice, or the system's for 'auto'. */
export function effectiveTheme(choice: ThemeChoice): 'light' | 'dark' {
  return choice === 'auto' ? systemTheme() : choice;
}

/** The toggle flips what is shown; picking the system's own theme goes back to following it. */
export function nextTheme(choice: ThemeChoice): ThemeChoice {
  const flipped = effectiveTheme(choice) === 'dark' ? 'light' : 'dark';
  return flipped === systemTheme() ? 'auto' : flipped;
}

const SYSTEM_DARK = '(prefers-color-scheme: dark)';

function systemTheme(): 'light' | 'dark' {
  return window.matchMedia(SYSTEM_DARK).matches ? 'dark' : 'light';
}
