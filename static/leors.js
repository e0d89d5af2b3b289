// LEORS page behaviour. Kept out of the templates: the Content-Security-Policy allows no inline
// script or event-handler attribute.

// <form data-confirm="Question?">: ask before submitting; a "Cancel" stops the submission.
// Listening while capturing on the document runs this before any handler on the form itself.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
