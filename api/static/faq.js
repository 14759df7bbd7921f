// Customer FAQ: "did this help?" votes and the contact-an-agent path. No login, no tokens.
"use strict";

function postFeedback(body) {
  return fetch("/api/faq/feedback", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }).then((r) => r.ok);
}

function revealContact() {
  const later = document.getElementById("contact-later");
  if (later) later.classList.remove("hidden");
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("faq-table");
  const query = (table && table.dataset.query) || (document.getElementById("faq-q") || {}).value || "";

  const showContact = document.getElementById("show-contact");
  if (showContact) {
    showContact.addEventListener("click", (event) => {
      event.preventDefault();
      revealContact();
      document.getElementById("contact").scrollIntoView({ behavior: "smooth" });
    });
  }

  const contactButton = document.getElementById("contact-agent");
  if (contactButton) {
    contactButton.addEventListener("click", () => {
      // Nothing fitted: recorded as a knowledge gap for the editors.
      postFeedback({ code: null, helpful: false, query: query }).finally(() => {
        contactButton.disabled = true;
        document.getElementById("contact-done").classList.remove("hidden");
      });
    });
  }

  function vote(helpful) {
    postFeedback({ code: table.dataset.code, helpful: helpful, query: query }).finally(() => {
      document.getElementById("helpful-yes").disabled = true;
      document.getElementById("helpful-no").disabled = true;
      document.getElementById("helpful-thanks").classList.remove("hidden");
      if (!helpful) revealContact();
    });
  }
  if (table) {
    document.getElementById("helpful-yes").addEventListener("click", () => vote(true));
    document.getElementById("helpful-no").addEventListener("click", () => vote(false));
  }
});
