// Light and dark themes: by default the system's (prefers-color-scheme, in styles.css); a choice
// made with the toggle is remembered in localStorage and set as <html data-theme="...">.
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
  if (choice === 'auto') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = choice;
  try {
    if (choice === 'auto') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, choice);
  } catch {
    // Not remembered; still applied.
  }
}

/** The theme shown now: the choice, or the system's for 'auto'. */
export function effectiveTheme(choice: ThemeChoice): 'light' | 'dark' {
  if (choice !== 'auto') return choice;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The toggle flips what is shown; picking the system's own theme goes back to following it. */
export function nextTheme(choice: ThemeChoice): ThemeChoice {
  const shown = effectiveTheme(choice);
  const flipped = shown === 'dark' ? 'light' : 'dark';
  const system = window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  return flipped === system ? 'auto' : flipped;
}
