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
      var tick = function () {
        var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
        countdown.textContent = Math.floor(left / 60) + ' min ' + (left % 60) + ' s';
      };
      setInterval(tick, 1000);
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

  // After a button's result page loads (post/redirect/get to #its-id), move the focus to the result so
  // a screen reader reads it; the browser has already scrolled there.
  function focusResult() {
    var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
    if (target && target.getAttribute('tabindex') === '-1') target.focus();
  }

  document.addEventListener('DOMContentLoaded', function () {
    focusResult();
    updateConditionalFields();
    watchToken();
  });
})();
