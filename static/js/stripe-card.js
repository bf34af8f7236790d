// The card page with the Stripe gateway: Stripe's Payment Element saves a card (SetupIntent).
//
// Loaded as a file, not inline, so the Content Security Policy can forbid inline scripts.
// Its data comes from the form's data- attributes (templates/payments/card.html).
(function () {
  "use strict";
  var form = document.getElementById("stripe-card-form");
  if (!form || typeof Stripe === "undefined") return;
  var stripe = Stripe(form.dataset.publishableKey);
  var error = document.getElementById("card-error");
  var csrf = document.cookie.match(/csrftoken=([^;]+)/);
  fetch(form.dataset.setupUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: {"X-CSRFToken": csrf ? csrf[1] : ""},
  })
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var elements = stripe.elements({clientSecret: data.client_secret});
      elements.create("payment").mount("#payment-element");
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        stripe
          .confirmSetup({
            elements: elements,
            confirmParams: {return_url: location.origin + form.dataset.returnUrl},
          })
          .then(function (res) {
            if (res.error) error.textContent = res.error.message;
          });
      });
    });
})();
