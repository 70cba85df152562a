/* AuthDomain admin portal: progressive enhancement only.
   Every page works without this script. Plain ES2017, no network access,
   no eval, never touches element.style (CSP: script-src/style-src 'self'). */
(function () {
  'use strict';

  // ---- Screen-reader announcements ---------------------------------------
  let liveRegion = null;

  function announce(message) {
    if (!liveRegion) {
      liveRegion = document.querySelector('.sr-only[aria-live]');
      if (!liveRegion) {
        liveRegion = document.createElement('div');
        liveRegion.className = 'sr-only';
        liveRegion.setAttribute('aria-live', 'polite');
        document.body.appendChild(liveRegion);
      }
    }
    // Clear first so the same message is announced again on a repeat copy.
    liveRegion.textContent = '';
    window.setTimeout(() => { liveRegion.textContent = message; }, 50);
  }

  // ---- Copy buttons: <button data-copy="element-id"> ---------------------
  const COPIED_MS = 2000;
  const resetTimers = new WeakMap();

  // Fallback for non-secure contexts (plain http on a non-localhost host),
  // where navigator.clipboard is unavailable. Leaves the text selected on
  // failure so the user can copy it by hand.
  function copyBySelection(el) {
    const selection = window.getSelection();
    const range = document.createRange();
    range.selectNodeContents(el);
    selection.removeAllRanges();
    selection.addRange(range);
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch (e) {
      ok = false;
    }
    if (ok) selection.removeAllRanges();
    return ok;
  }

  async function copyText(el) {
    const text = el.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (e) {
        // Permission denied or similar: fall through to the selection method.
      }
    }
    return copyBySelection(el);
  }

  function showCopied(button) {
    if (!button.dataset.copyLabel) button.dataset.copyLabel = button.textContent;
    button.textContent = 'Copied';
    window.clearTimeout(resetTimers.get(button));
    resetTimers.set(button, window.setTimeout(() => {
      button.textContent = button.dataset.copyLabel;
    }, COPIED_MS));
  }

  document.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-copy]');
    if (!button) return;
    event.preventDefault(); // never submit an enclosing form
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    if (await copyText(source)) {
      showCopied(button);
      announce('Copied to the clipboard');
    } else {
      announce('Copying failed: the text is selected, copy it manually');
    }
  });

  // ---- Confirmation: <form data-confirm="Really revoke?"> ----------------
  document.addEventListener('submit', (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // ---- Auth method toggle on the client form -----------------------------
  // <select name="token_endpoint_auth_method" data-toggles> shows elements
  // marked [data-when-auth=private_key_jwt] only for that method. Controls
  // inside hidden sections are disabled too, so a hidden `required` field
  // cannot block submission and hidden values are not sent; only controls
  // disabled by this script are re-enabled.
  const AUTH_SELECT = 'select[name="token_endpoint_auth_method"][data-toggles]';

  function applyAuthToggle(select) {
    const show = select.value === 'private_key_jwt';
    const scope = select.form || document;
    scope.querySelectorAll('[data-when-auth="private_key_jwt"]').forEach((section) => {
      section.hidden = !show;
      const controls = section.matches('input, select, textarea')
        ? [section]
        : section.querySelectorAll('input, select, textarea');
      controls.forEach((control) => {
        if (!show && !control.disabled) {
          control.disabled = true;
          control.dataset.authDisabled = '';
        } else if (show && control.hasAttribute('data-auth-disabled')) {
          control.disabled = false;
          delete control.dataset.authDisabled;
        }
      });
    });
  }

  function applyAllAuthToggles() {
    document.querySelectorAll(AUTH_SELECT).forEach(applyAuthToggle);
  }

  document.addEventListener('change', (event) => {
    if (event.target.matches && event.target.matches(AUTH_SELECT)) applyAuthToggle(event.target);
  });
  // Re-apply when the page is restored from the back/forward cache with a
  // remembered select value.
  window.addEventListener('pageshow', applyAllAuthToggles);

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', applyAllAuthToggles);
  } else {
    applyAllAuthToggles();
  }
})();
