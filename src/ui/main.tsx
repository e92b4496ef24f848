// Entry point: applies the remembered theme before the first paint, then mounts the shell.
import { render } from 'preact';
import { App } from './app.tsx';
import { applyTheme, followSystemTheme, loadTheme } from './theme.ts';
import './styles.css';

applyTheme(loadTheme());
followSystemTheme();
const root = document.getElementById('app');
if (root === null) throw new Error('index.html has no #app element');
render(<App />, root);
