// Shared by the dashboard and the wallboard: the token, API calls, the login form.
"use strict";
const Hotline = (() => {
  const KEY = "hotline_token";
  const token = () => sessionStorage.getItem(KEY) || "";
  async function api(path, params) {
    const url = new URL(path, location.origin);
    Object.entries(params || {}).forEach(([k, v]) => v !== undefined && url.searchParams.set(k, v));
    const headers = token() ? { Authorization: "Bearer " + token() } : {};
    const response = await fetch(url, { headers, credentials: "same-origin" });
    if (response.status === 401) { showLogin(); throw new Error("请先登录"); }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
      throw new Error(detail);
    }
    return response;
  }
  function showLogin(message) {
    document.getElementById("login").style.display = "block";
    document.getElementById("app").style.display = "none";
    if (message) document.getElementById("login-error").textContent = message;
  }
  function setupLogin(onReady) {
    const form = document.getElementById("login-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { username: form.username.value, password: form.password.value };
      const response = await fetch("/api/v1/auth/login", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body), credentials: "same-origin" });
      if (!response.ok) {
        let detail = "登录失败";
        try { detail = (await response.json()).detail || detail; } catch (e) { /* keep */ }
        document.getElementById("login-error").textContent = detail;
        return;
      }
      sessionStorage.setItem(KEY, (await response.json()).access_token);
      document.getElementById("login").style.display = "none";
      document.getElementById("app").style.display = "block";
      onReady();
    });
  }
  const pct = (v) => (v === null || v === undefined) ? "—" : (v * 100).toFixed(1) + "%";
  const num = (v) => (v === null || v === undefined) ? "—" : Number(v).toLocaleString("zh-CN");
  const secs = (v) => (v === null || v === undefined) ? "—" : Number(v).toFixed(1) + " 秒";
  return { api, token, showLogin, setupLogin, pct, num, secs };
})();
