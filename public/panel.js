// Small progressive enhancements; every page works without this file.
(function () {
  'use strict';

  // Show only the fields that apply to the chosen option (the server ignores the others anyway).
  // A field is shown when its controlling field is shown and has one of the listed values.
  function isActive(field) {
    var source = document.querySelector('[name="' + field.getAttribute('data-when-field') + '"]');
    if (!source) return true;
    if (field.getAttribute('data-when-values').split(' ').indexOf(source.value) === -1) return false;
    var container = source.closest('[data-when-field]');
    return !container || isActive(container);
  }
  function updateConditionalFields() {
    document.querySelectorAll('[data-when-field]').forEach(function (field) {
      field.hidden = !isActive(field);
    });
  }
  document.addEventListener('change', function (event) {
    if (event.target && event.target.name) updateConditionalFields();
  });

  // While the device waits for authorization: count down, and ask the device for the state until it changes.
  function watchToken() {
    var panel = document.getElementById('token');
    if (!panel) return;
    var state = panel.getAttribute('data-token-state');
    var countdown = panel.querySelector('[data-seconds-left]');
    if (countdown) {
      var deadline = Date.now() + Number(countdown.getAttribute('data-seconds-left')) * 1000;
      // The page's own words ("{minutes} min {seconds} s"), in the page's language.
      var format = countdown.getAttribute('data-format') || '{minutes}:{seconds}';
      var tick = function () {
        var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
        countdown.textContent = format.replace('{minutes}', String(Math.floor(left / 60))).replace('{seconds}', String(left % 60));
        if (left === 0) clearInterval(timer);
      };
      var timer = setInterval(tick, 1000);
    }
    if (state !== 'awaiting_authorization') return;
    var purpose = panel.getAttribute('data-purpose');
    var poll = function () {
      fetch('/api/token-status/' + encodeURIComponent(purpose), { credentials: 'same-origin', headers: { accept: 'application/json' } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) {
          if (status && status.state !== state) window.location.reload();
          else setTimeout(poll, 2000);
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 2000);
  }

  // Copy buttons (the user code): the clipboard API where the page is a secure context (https, loopback),
  // else the older copy command on the selected text. The button exists only for script users.
  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
  function setupCopyButtons() {
    document.querySelectorAll('[data-copy]').forEach(function (button) {
      var source = document.getElementById(button.getAttribute('data-copy'));
      var status = button.parentNode.querySelector('[data-copy-status]');
      if (!source) return;
      button.hidden = false;
      button.addEventListener('click', function () {
        var text = source.textContent.trim();
        var done = function () { if (status) status.textContent = button.getAttribute('data-copied'); };
        var fallback = function () {
          selectText(source);
          var copied = false;
          try { copied = document.execCommand('copy'); } catch (e) { copied = false; }
          if (copied) done();
          else if (status) status.textContent = button.getAttribute('data-copy-failed');
        };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
        else fallback();
      });
    });
  }

  // After a button's result page loads (post/redirect/get to #its-id), move the focus to the result so
  // a screen reader reads it; the browser has already scrolled there.
  function focusResult() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.getAttribute('tabindex') === '-1') target.focus();
  }

  // On a narrow screen the menu starts folded above the content (open by default for pages without script).
  function foldMenuOnPhones() {
    var box = document.querySelector('details.menu-box');
    if (box && window.matchMedia('(max-width: 720px)').matches) box.open = false;
  }

  document.addEventListener('DOMContentLoaded', function () {
    foldMenuOnPhones();
    focusResult();
    setupCopyButtons();
    updateConditionalFields();
    watchToken();
  });
})();
