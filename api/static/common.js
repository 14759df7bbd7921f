// Shared by the agent console and the admin desk: the API token (kept in localStorage), calls to
// the API with it, error display, and small helpers. Plain JS, no build step.
"use strict";

const ROLE_NAMES = { agent: "客服", editor: "编辑", reviewer: "审核员", admin: "管理员" };
const TOKEN_KEY = "zhiku.token";

const Zhiku = {
  me: null,
  listeners: [],

  token() {
    return window.localStorage.getItem(TOKEN_KEY) || "";
  },

  esc(value) {
    return String(value == null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  },

  date(value) {
    if (!value) return "—";
    const d = new Date(value);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  },

  async api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (this.token()) headers.Authorization = "Bearer " + this.token();
    const init = { method: method, headers: headers };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.blob();
    if (!response.ok) {
      const error = new Error((data && data.message) || response.statusText);
      error.status = response.status;
      error.body = data;
      throw error;
    }
    return data;
  },

  // An error as HTML: the message, then each problem with field, location and value.
  errorHtml(error) {
    const body = error.body || {};
    let html = `<strong>${this.esc(body.message || error.message)}</strong>`;
    const problems = body.problems || [];
    if (problems.length) {
      html += "<ul>" + problems.map((p) => {
        const where = [p.location, p.field].filter(Boolean).map((s) => this.esc(s)).join(" · ");
        const value = p.value == null || p.value === "" ? "" : `（值：${this.esc(p.value)}）`;
        return `<li>${where ? where + "：" : ""}${this.esc(p.message)}${value}</li>`;
      }).join("") + "</ul>";
    }
    return html;
  },

  showError(target, error) {
    target.innerHTML = this.errorHtml(error);
    target.className = "notice error";
  },

  toast(message) {
    const box = document.createElement("div");
    box.className = "toast";
    box.textContent = message;
    document.body.appendChild(box);
    window.setTimeout(() => box.remove(), 2200);
  },

  // Copy text; falls back to a hidden textarea where the clipboard API is not available.
  async copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try {
        await navigator.clipboard.writeText(text);
        return true;
      } catch (ignored) {
        // fall through to the textarea method
      }
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  },

  onLogin(callback) {
    this.listeners.push(callback);
    if (this.me) callback(this.me);
  },

  render() {
    const who = document.getElementById("login-who");
    const input = document.getElementById("token-input");
    const loginButton = document.getElementById("login-button");
    const logout = document.getElementById("logout-button");
    if (this.me) {
      who.textContent = `${this.me.display_name}（${ROLE_NAMES[this.me.role] || this.me.role}）`;
      input.classList.add("hidden");
      loginButton.classList.add("hidden");
      logout.classList.remove("hidden");
    } else {
      who.textContent = "未登录";
      input.classList.remove("hidden");
      loginButton.classList.remove("hidden");
      logout.classList.add("hidden");
    }
    document.body.classList.toggle("logged-in", Boolean(this.me));
  },

  async login(token) {
    window.localStorage.setItem(TOKEN_KEY, token);
    try {
      this.me = await this.api("GET", "/api/me");
    } catch (error) {
      window.localStorage.removeItem(TOKEN_KEY);
      this.me = null;
      this.render();
      throw error;
    }
    this.render();
    this.listeners.forEach((callback) => callback(this.me));
    return this.me;
  },

  logout() {
    window.localStorage.removeItem(TOKEN_KEY);
    this.me = null;
    this.render();
    window.location.reload();
  },

  can(action) {
    return Boolean(this.me && this.me.actions.includes(action));
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login-form");
  const input = document.getElementById("token-input");
  const status = document.getElementById("login-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    Zhiku.login(token).then(() => {
      input.value = "";
      if (status) status.classList.add("hidden");
    }).catch((error) => {
      if (status) Zhiku.showError(status, error);
    });
  });
  document.getElementById("logout-button").addEventListener("click", () => Zhiku.logout());
  Zhiku.render();
  if (Zhiku.token()) {
    Zhiku.login(Zhiku.token()).catch((error) => {
      if (status) Zhiku.showError(status, error);
    });
  }
});
