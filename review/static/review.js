// Keys for the review page: 0-3 grade, s skip, u undo, ? shows the rubric.
// Each key submits the page's own form, so everything also works by clicking, without this.
"use strict";
(function () {
  let sent = false; // one submission per page: a held-down key must not grade twice

  function typing(target) {
    return target instanceof HTMLElement && target.closest("input, textarea, select") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur(); // back to the keys
      return;
    }
    if (event.key === "?") {
      const rubric = document.getElementById("rubric");
      if (rubric) rubric.open = !rubric.open;
      event.preventDefault();
      return;
    }
    const button = document.querySelector('button[data-key="' + CSS.escape(event.key) + '"]');
    if (!button || !button.form) return;
    event.preventDefault();
    if (sent) return;
    sent = true;
    button.form.requestSubmit(button);
  });

  // A page restored from the back/forward cache may be used again.
  window.addEventListener("pageshow", function () {
    sent = false;
  });
})();
