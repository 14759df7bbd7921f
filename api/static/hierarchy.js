// Admin desk, 分类与知识包 tab: categories and packages with their field templates (including
// the label customers read per field); create, edit the template, delete empty ones. Deleting
// one that still holds content is refused by the API with a message naming what it holds.
// Uses admin.js's esc/message/fail.
"use strict";

const DEFAULT_TEMPLATE = [
  { key: "question", label: "问题描述", type: "text" },
  { key: "answer", label: "标准答复", type: "markdown", required: true },
  { key: "steps", label: "操作步骤", type: "steps" },
  { key: "scope", label: "适用范围", type: "text", weight: 0.5 },
  { key: "caution", label: "注意事项", type: "list", weight: 0.5 },
  { key: "internal_note", label: "内部备注", type: "text", audience: "internal", searchable: false },
];
const TYPE_NAMES = { text: "文本", markdown: "Markdown", steps: "步骤", list: "列表" };
const Hierarchy = { editing: null, categories: [] };

async function loadHierarchy() {
  const admin = Zhiku.can("manage_hierarchy");
  document.querySelectorAll("[data-panel='hierarchy'] .admin-only").forEach((el) => el.classList.toggle("hidden", !admin));
  document.getElementById("hierarchy-note").textContent = admin
    ? "只有空的大类（没有知识包）和空的知识包（没有知识，含已归档的）可以删除。"
    : "只有管理员可以新建、修改或删除大类与知识包。";
  try {
    Hierarchy.categories = await Zhiku.api("GET", "/api/admin/categories");
    document.getElementById("hierarchy-list").innerHTML = Hierarchy.categories.map((c) => `
      <div class="card category-card" data-category="${esc(c.name)}">
        <div class="row"><h3>${esc(c.name)}</h3><span class="meta">${esc(c.description)}</span>
          ${admin ? `<button type="button" class="small danger delete-category" data-name="${esc(c.name)}">删除大类</button>` : ""}</div>
        <table class="list compact"><tr><th>知识包</th><th>知识数</th><th>模板版本</th><th>核实周期</th><th>负责人</th><th></th></tr>
          ${c.packages.map((p) => `<tr data-path="${esc(p.path)}"><td>${esc(p.name)}</td><td>${p.tables}</td><td>v${p.template_version}</td>
            <td>${p.review_interval_days ? p.review_interval_days + " 天" : "不需核实"}</td><td>${esc(p.owner || "—")}</td>
            <td>${admin ? `<button type="button" class="small edit-package" data-path="${esc(p.path)}">编辑模板</button>
              <button type="button" class="small danger delete-package" data-path="${esc(p.path)}">删除</button>` : ""}</td></tr>`).join("") ||
            '<tr><td colspan="6" class="muted">还没有知识包。</td></tr>'}
        </table>
      </div>`).join("") || '<p class="muted">还没有大类。</p>';
    const select = document.getElementById("package-category");
    const chosen = select.value;
    select.innerHTML = Hierarchy.categories.map((c) => `<option value="${esc(c.name)}">${esc(c.name)}</option>`).join("");
    if (chosen) select.value = chosen;
    if (!Hierarchy.editing && !document.querySelector("#template-rows tr.template-row")) renderTemplate(DEFAULT_TEMPLATE);
  } catch (error) { fail(error); }
}

function templateRow(spec) {
  const types = Object.entries(TYPE_NAMES).map(([v, n]) => `<option value="${v}"${spec.type === v ? " selected" : ""}>${n}</option>`).join("");
  return `<tr class="template-row" data-weight="${spec.weight ?? 1}">
    <td><input type="text" class="t-key" value="${esc(spec.key)}" size="12" aria-label="字段键"></td>
    <td><input type="text" class="t-label" value="${esc(spec.label)}" size="10" aria-label="员工看到的名称"></td>
    <td><input type="text" class="t-customer" value="${esc(spec.customer_label || "")}" size="10" maxlength="40"
      placeholder="${esc(spec.customer_sees || "自动")}" aria-label="客户看到的名称"></td>
    <td><select class="t-type" aria-label="类型">${types}</select></td>
    <td><input type="checkbox" class="t-required"${spec.required ? " checked" : ""} aria-label="必填"></td>
    <td><input type="checkbox" class="t-searchable"${spec.searchable === false ? "" : " checked"} aria-label="可检索"></td>
    <td><select class="t-audience" aria-label="可见范围"><option value="public">客户可见</option>
      <option value="internal"${spec.audience === "internal" ? " selected" : ""}>仅内部</option></select></td>
    <td><button type="button" class="small t-remove" aria-label="删除字段">✕</button></td></tr>`;
}

function renderTemplate(specs) {
  document.getElementById("template-rows").innerHTML =
    "<tr><th>字段键</th><th>员工看到的名称</th><th>客户看到的名称</th><th>类型</th><th>必填</th><th>可检索</th><th>可见范围</th><th></th></tr>" +
    specs.map(templateRow).join("");
}

function templateValues() {
  return [...document.querySelectorAll("#template-rows tr.template-row")].map((row) => {
    const value = (cls) => row.querySelector(cls).value.trim();
    const spec = {
      key: value(".t-key"), label: value(".t-label"), type: value(".t-type"),
      required: row.querySelector(".t-required").checked, searchable: row.querySelector(".t-searchable").checked,
      audience: value(".t-audience"), weight: Number(row.dataset.weight || 1),
    };
    if (value(".t-customer")) spec.customer_label = value(".t-customer");
    return spec;
  });
}

function resetPackageForm() {
  Hierarchy.editing = null;
  document.getElementById("package-form-title").textContent = "新建知识包";
  document.getElementById("package-save").textContent = "新建知识包";
  document.getElementById("package-cancel").classList.add("hidden");
  ["package-name", "package-description", "package-owner"].forEach((id) => { document.getElementById(id).value = ""; });
  document.getElementById("package-interval").value = "180";
  document.getElementById("package-name").disabled = false;
  document.getElementById("package-category").disabled = false;
  renderTemplate(DEFAULT_TEMPLATE);
}

async function editPackage(path) {
  const [category, name] = path.split("/");
  try {
    const pkg = await Zhiku.api("GET", `/api/admin/packages/${encodeURIComponent(category)}/${encodeURIComponent(name)}`);
    Hierarchy.editing = pkg;
    document.getElementById("package-form-title").textContent = `编辑知识包 ${pkg.path}（模板 v${pkg.template_version}）`;
    document.getElementById("package-save").textContent = "保存模板与设置";
    document.getElementById("package-cancel").classList.remove("hidden");
    document.getElementById("package-category").value = pkg.category;
    document.getElementById("package-category").disabled = true;
    document.getElementById("package-name").value = pkg.name;
    document.getElementById("package-name").disabled = true;
    document.getElementById("package-description").value = pkg.description;
    document.getElementById("package-interval").value = String(pkg.review_interval_days);
    document.getElementById("package-owner").value = pkg.owner;
    renderTemplate(pkg.template);
    document.getElementById("package-form").scrollIntoView({ block: "start" });
  } catch (error) { fail(error); }
}

async function savePackage() {
  const error = document.getElementById("hierarchy-error");
  const body = {
    description: document.getElementById("package-description").value.trim(),
    review_interval_days: Number(document.getElementById("package-interval").value),
    owner: document.getElementById("package-owner").value.trim(),
    template: templateValues(),
  };
  try {
    let pkg;
    if (Hierarchy.editing) {
      const [category, name] = Hierarchy.editing.path.split("/");
      pkg = await Zhiku.api("PUT", `/api/admin/packages/${encodeURIComponent(category)}/${encodeURIComponent(name)}`, body);
      message("ok", `知识包 ${esc(pkg.path)} 已保存（模板 v${pkg.template_version}）。`);
    } else {
      pkg = await Zhiku.api("POST", "/api/admin/packages", {
        ...body, category: document.getElementById("package-category").value,
        name: document.getElementById("package-name").value.trim(),
      });
      message("ok", `知识包 ${esc(pkg.path)} 已新建，可以在“知识编辑”里添加知识。`);
    }
    error.className = "hidden";
    resetPackageForm();
    await loadHierarchy();
  } catch (e) { fail(e, error); }
}

async function createCategory(event) {
  event.preventDefault();
  const name = document.getElementById("category-name").value.trim();
  if (!name) return;
  try {
    await Zhiku.api("POST", "/api/admin/categories", {
      name: name, description: document.getElementById("category-description").value.trim(),
    });
    document.getElementById("category-name").value = "";
    document.getElementById("category-description").value = "";
    message("ok", `大类 ${esc(name)} 已新建。`);
    await loadHierarchy();
    document.getElementById("package-category").value = name;
  } catch (error) { fail(error); }
}

async function deleteNode(kind, path) {
  const what = kind === "category" ? `大类 ${path}` : `知识包 ${path}`;
  if (!window.confirm(`确定删除${what}？此操作不可撤销。`)) return;
  const url = kind === "category"
    ? `/api/admin/categories/${encodeURIComponent(path)}`
    : `/api/admin/packages/${path.split("/").map(encodeURIComponent).join("/")}`;
  try {
    await Zhiku.api("DELETE", url);
    message("ok", `${esc(what)} 已删除。`);
    await loadHierarchy();
  } catch (error) { fail(error); }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("hierarchy-list").addEventListener("click", (e) => {
    if (e.target.classList.contains("delete-category")) deleteNode("category", e.target.dataset.name);
    if (e.target.classList.contains("delete-package")) deleteNode("package", e.target.dataset.path);
    if (e.target.classList.contains("edit-package")) editPackage(e.target.dataset.path);
  });
  document.getElementById("category-form").addEventListener("submit", createCategory);
  document.getElementById("package-form").addEventListener("submit", (e) => { e.preventDefault(); savePackage(); });
  document.getElementById("package-save").addEventListener("click", savePackage);
  document.getElementById("package-cancel").addEventListener("click", resetPackageForm);
  document.getElementById("template-add").addEventListener("click", () => {
    document.getElementById("template-rows").insertAdjacentHTML("beforeend", templateRow({ key: "", label: "", type: "text" }));
  });
  document.getElementById("template-rows").addEventListener("click", (e) => {
    if (e.target.classList.contains("t-remove")) e.target.closest("tr").remove();
  });
});
