// Starts the NHS.UK frontend components on every page.
//
// nhsuk-frontend 10 ships an ES module and expects a small inline script that marks <body> as
// JavaScript-enabled; the CSP forbids inline scripts, so this module (loaded with type="module",
// which only browsers that nhsuk-frontend supports run) does both.
import { initAll } from '/assets/nhsuk/nhsuk-frontend.min.js';

document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');
initAll();
