// Customer FAQ: "did this help?" votes and the way to a person (a request staff answer).
// No login, no tokens; every message here is for customers, in their words.
"use strict";

// What customers read when a field is refused (the API's messages are for developers).
const CONTACT_PROBLEMS = {
  question: "请填写您的问题（最多 500 字）。",
  contact_name: "称呼最多 50 个字。",
  contact_phone: "手机号格式不对：请填写 11 位手机号（如 13812345678）或带区号的固定电话（如 010-12345678）。",
  contact_email: "邮箱格式不对，应类似 name@example.com。",
  contact_wechat: "微信号应为 6–20 位字母、数字、下划线或减号，并以字母开头（也可以填绑定的手机号）。",
  name: "称呼最多 50 个字。",
  phone: "手机号太长了。",
  email: "邮箱太长了。",
  wechat: "微信号太长了。",
};

function postJson(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

function revealContact() {
  const later = document.getElementById("contact-later");
  if (later) later.classList.remove("hidden");
}

function escapeHtml(value) {
  return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

const CONTACT_INPUTS = {
  question: "contact-question", contact_name: "contact-name", name: "contact-name",
  contact_phone: "contact-phone", phone: "contact-phone", contact_email: "contact-email",
  email: "contact-email", contact_wechat: "contact-wechat", wechat: "contact-wechat",
};

function showContactError(box, problems) {
  Object.values(CONTACT_INPUTS).forEach((id) => document.getElementById(id).removeAttribute("aria-invalid"));
  problems.forEach((p) => {
    const input = document.getElementById(CONTACT_INPUTS[p.field] || "");
    if (input) input.setAttribute("aria-invalid", "true");
  });
  const lines = problems.length
    ? [...new Set(problems.map((p) => CONTACT_PROBLEMS[p.field] || "提交的内容有误，请检查后再试。"))]
    : ["暂时无法提交，请稍后再试，或拨打客服热线 10000。"];
  box.innerHTML = lines.map((line) => `<div>${escapeHtml(line)}</div>`).join("");
  box.className = "notice error";
}

async function sendRequest(box, form) {
  const error = document.getElementById("contact-error");
  const value = (id) => document.getElementById(id).value.trim();
  const question = value("contact-question");
  if (!question) {
    showContactError(error, [{ field: "question" }]);
    return;
  }
  const body = {
    question: question,
    name: value("contact-name"),
    phone: value("contact-phone"),
    email: value("contact-email"),
    wechat: value("contact-wechat"),
    shown: (box.dataset.shown || "").split(" ").filter(Boolean),
    abstained: box.dataset.abstained === "true",
    channel: "web",
  };
  if (box.dataset.logId && question === box.dataset.query) body.query_log_id = Number(box.dataset.logId);
  const submit = document.getElementById("contact-submit");
  submit.disabled = true;
  try {
    const response = await postJson("/api/faq/requests", body);
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      showContactError(error, data.problems || []);
      return;
    }
    error.className = "hidden";
    form.classList.add("hidden");
    const done = document.getElementById("contact-done");
    done.innerHTML = `<strong>已提交给人工客服。</strong>
      <div>参考编号：<strong id="contact-ref">${escapeHtml(data.ref)}</strong>
        查询码：<strong id="contact-token">${escapeHtml(data.token)}</strong></div>
      <div>客服答复后，在 <a id="contact-status" href="${escapeHtml(data.status_url)}">这个页面</a> 查看进度（请保存链接或记下编号和查询码）。</div>`;
    done.classList.remove("hidden");
  } catch (ignored) {
    showContactError(error, []);
  } finally {
    submit.disabled = false;
  }
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

  // Linked from other pages (an error page's 联系人工客服): open the way to a person at once.
  if (window.location.hash === "#contact") {
    revealContact();
    const target = document.getElementById("contact");
    if (target) target.scrollIntoView();
  }

  const box = document.getElementById("contact");
  const form = document.getElementById("contact-form");
  const contactButton = document.getElementById("contact-agent");
  if (box && form && contactButton) {
    contactButton.addEventListener("click", () => {
      contactButton.classList.add("hidden");
      form.classList.remove("hidden");
      document.getElementById("contact-question").focus();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      sendRequest(box, form);
    });
  }

  function vote(helpful) {
    postJson("/api/faq/feedback", { code: table.dataset.code, helpful: helpful, query: query }).finally(() => {
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
